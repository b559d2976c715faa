"""Dealer: CALL/REGISTER/UNREGISTER between independent sessions."""

import asyncio
import itertools

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallResult, RegisterOptions

from wampclient import MAX_ID, SERIALIZERS, connect, raw_unregister, within

ARGS = [1, -2, 2**53, 1.5, "héllo ✓", True, None, [1, [2, 3]], {"nested": {"a": [1, 2]}}]
KWARGS = {"name": "x", "list": [1, 2, 3], "map": {"k": "v"}, "flag": False, "nothing": None}


def echo(*args, **kwargs):
    return CallResult(*args, **kwargs)


async def test_call_round_trip_args_and_kwargs(session):
    callee, caller = await session(), await session()
    reg = await within(callee.register(echo, "com.example.echo"))
    assert 1 <= reg.id <= MAX_ID

    res = await within(caller.call("com.example.echo", *ARGS, **KWARGS))

    assert isinstance(res, CallResult)
    assert list(res.results) == ARGS
    assert res.kwresults == KWARGS


async def test_call_single_result(session):
    callee, caller = await session(), await session()
    await within(callee.register(lambda a, b: a + b, "com.example.add"))
    assert await within(caller.call("com.example.add", 2, 40)) == 42


@pytest.mark.parametrize(
    "caller_ser,callee_ser", list(itertools.product(SERIALIZERS, SERIALIZERS))
)
async def test_binary_payload_across_serializers(router_url, caller_ser, callee_ser):
    blob = bytes(range(256))
    callee = await connect(router_url, callee_ser)
    caller = await connect(router_url, caller_ser)
    try:
        seen = []

        def endpoint(data, **kwargs):
            seen.append((data, kwargs))
            return CallResult(data, blob=kwargs["blob"])

        await within(callee.register(endpoint, "com.example.binary"))
        res = await within(caller.call("com.example.binary", blob, blob=blob))
        assert seen == [(blob, {"blob": blob})]
        assert list(res.results) == [blob]
        assert res.kwresults == {"blob": blob}
    finally:
        await caller.close()
        await callee.close()


async def test_application_error_preserves_uri_args_kwargs(session):
    callee, caller = await session(), await session()
    detail = {"code": 17, "items": ["a", "b"], "ok": False}

    def fail():
        raise ApplicationError("com.example.error.oops", 1, "x", detail=detail)

    await within(callee.register(fail, "com.example.fail"))

    with pytest.raises(ApplicationError) as err:
        await within(caller.call("com.example.fail"))

    assert err.value.error == "com.example.error.oops"
    assert list(err.value.args) == [1, "x"]
    assert err.value.kwargs == {"detail": detail}


async def test_call_unregistered_procedure(session):
    caller = await session()
    with pytest.raises(ApplicationError) as err:
        await within(caller.call("com.example.nobody.home"))
    assert err.value.error == "wamp.error.no_such_procedure"
    assert caller.is_attached()


async def test_duplicate_registration_from_second_session(session):
    first, second = await session(), await session()
    await within(first.register(lambda: "first", "com.example.dup"))

    with pytest.raises(ApplicationError) as err:
        await within(second.register(lambda: "second", "com.example.dup"))
    assert err.value.error == "wamp.error.procedure_already_exists"

    # The original registration is untouched.
    assert await within(second.call("com.example.dup")) == "first"


async def test_unregister_then_call(session):
    callee, caller = await session(), await session()
    reg = await within(callee.register(lambda: "here", "com.example.gone"))
    assert await within(caller.call("com.example.gone")) == "here"

    await within(reg.unregister())

    with pytest.raises(ApplicationError) as err:
        await within(caller.call("com.example.gone"))
    assert err.value.error == "wamp.error.no_such_procedure"

    # The URI is free again: another session can take it.
    await within(caller.register(lambda: "again", "com.example.gone"))
    assert await within(callee.call("com.example.gone")) == "again"


async def test_unregister_unknown_registration(session):
    client = await session()
    with pytest.raises(ApplicationError) as err:
        await raw_unregister(client, MAX_ID - 7)
    assert err.value.error == "wamp.error.no_such_registration"
    assert client.is_attached()


async def test_unregister_other_sessions_registration(session):
    owner, other = await session(), await session()
    reg = await within(owner.register(lambda: "mine", "com.example.owned"))

    with pytest.raises(ApplicationError) as err:
        await raw_unregister(other, reg.id)
    assert err.value.error == "wamp.error.no_such_registration"
    assert await within(other.call("com.example.owned")) == "mine"


@pytest.mark.parametrize("how", ["goodbye", "connection_drop"])
async def test_callee_leaves_mid_call(session, how):
    callee, caller = await session(), await session()
    invoked = asyncio.Event()

    async def hang():
        invoked.set()
        await asyncio.Event().wait()  # never answers

    await within(callee.register(hang, "com.example.hang"))
    pending = asyncio.ensure_future(caller.call("com.example.hang"))
    await within(invoked.wait())

    if how == "goodbye":
        await callee.close()
    else:
        callee.drop()

    with pytest.raises(ApplicationError) as err:
        await within(pending, 5)
    assert err.value.error.startswith("wamp.error."), err.value.error
    assert caller.is_attached(), "the caller's session must survive the callee leaving"

    with pytest.raises(ApplicationError) as err:
        await within(caller.call("com.example.hang"))
    assert err.value.error == "wamp.error.no_such_procedure"


async def test_caller_disclosed_when_role_permits(session):
    callee, caller = await session(), await session()
    seen = []

    def who(details=None):
        seen.append(details.caller)
        return "ok"

    await within(
        callee.register(who, "com.example.who", options=RegisterOptions(details_arg="details"))
    )
    assert await within(caller.call("com.example.who")) == "ok"
    assert seen == [caller.session_id]
