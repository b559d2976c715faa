"""Session lifecycle: HELLO/WELCOME, ABORT for an unknown realm, GOODBYE."""

import asyncio

import pytest

from wampclient import MAX_ID, JoinRefused, connect, within


async def test_join_welcome_details(session, serializer):
    client = await session()
    details = client.joined.result()

    assert isinstance(details.session, int)
    assert 1 <= details.session <= MAX_ID
    assert details.realm == "realm1"
    assert details.authrole == "anonymous"
    assert details.serializer.startswith(serializer)

    roles = client.welcome.roles
    assert "broker" in roles, f"WELCOME announced roles {sorted(roles)}"
    assert "dealer" in roles, f"WELCOME announced roles {sorted(roles)}"


async def test_session_ids_are_distinct(session):
    a, b = await session(), await session()
    assert a.session_id != b.session_id


async def test_join_unknown_realm_is_aborted(router_url, serializer):
    with pytest.raises(JoinRefused) as refused:
        await connect(router_url, serializer, realm="no.such.realm")
    assert refused.value.reason == "wamp.error.no_such_realm"


async def test_goodbye_closes_the_session(session):
    client = await session()
    client.leave()
    details = await within(asyncio.shield(client.left))
    # The router answers GOODBYE with GOODBYE "wamp.close.goodbye_and_out"
    # (WAMP spec, "Session Closing"; Crossbar echoes wamp.close.normal instead).
    assert details.reason == "wamp.close.goodbye_and_out"
    await within(asyncio.shield(client.disconnected))
