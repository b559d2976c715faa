"""Authorization with autobahn-python, in all three serializers: a role with
limited permissions, a dynamic authorizer implemented by a test session (with
its decision cache), and a principal whose role the realm does not define.

Every session authenticates with a ticket; the principal decides the role.
These need the gateway's own configuration, so they are skipped (by name) when
WAMP_TEST_ROUTER_URL points the suite at another router.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallDetails, PublishOptions, RegisterOptions

from wampclient import JoinRefused, raw_call, raw_publish, raw_register, raw_subscribe, ticket, within

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("WAMP_TEST_ROUTER_URL")),
    reason="tests the gateway's own roles and authorizers; WAMP_TEST_ROUTER_URL is set",
)

CONFIG = """
[[transports]]
type = "websocket"
listen = "127.0.0.1:0"
[transports.auth.ticket.principals.admin]
ticket = "admin-secret"
role = "admin"
[transports.auth.ticket.principals.lim]
ticket = "lim-secret"
role = "limited"
[transports.auth.ticket.principals.dyn]
ticket = "dyn-secret"
role = "dynamic"
[transports.auth.ticket.principals.ghost]
ticket = "ghost-secret"
role = "ghost"

[[realms]]
name = "realm1"
[[realms.roles]]
name = "admin"
permissions = [{ uri = "", match = "prefix", call = true, register = true, publish = true, subscribe = true, disclose_caller = true }]
[[realms.roles]]
name = "limited"
permissions = [
  { uri = "com.example.allowed.", match = "prefix", call = true },
  { uri = "com.example.allowed.secret", call = false },
]
[[realms.roles]]
name = "dynamic"
authorizer = "com.example.authorize"
"""

ADMIN = ticket("admin", "admin-secret")
LIMITED = ticket("lim", "lim-secret")
DYNAMIC = ticket("dyn", "dyn-secret")


@pytest.fixture
def url(gateway) -> str:
    return gateway(CONFIG).url


async def assert_not_authorized(awaitable):
    with pytest.raises(ApplicationError) as err:
        await within(awaitable)
    assert err.value.error == "wamp.error.not_authorized"


# -- static permissions ------------------------------------------------------------


async def test_limited_role_may_call_what_it_is_allowed(url, client):
    admin = await client(url, auth=ADMIN)
    await within(admin.register(lambda x: x * 2, "com.example.allowed.double"))
    limited = await client(url, auth=LIMITED)
    assert limited.joined.result().authrole == "limited"
    assert await within(limited.call("com.example.allowed.double", 21)) == 42


async def test_limited_role_is_denied_everything_else(url, client):
    admin = await client(url, auth=ADMIN)
    await within(admin.register(lambda: "nope", "com.example.allowed.secret"))
    await within(admin.register(lambda: "other", "com.example.other"))
    limited = await client(url, auth=LIMITED)

    await assert_not_authorized(limited.call("com.example.other"))
    # The exact entry (call = false) beats the longer-matching-prefix one.
    await assert_not_authorized(limited.call("com.example.allowed.secret"))
    await assert_not_authorized(limited.register(lambda: None, "com.example.allowed.mine"))
    await assert_not_authorized(limited.publish("com.example.allowed.topic", options=PublishOptions(acknowledge=True)))
    await assert_not_authorized(limited.subscribe(lambda: None, "com.example.allowed.topic"))
    # The meta API obeys permissions too.
    await assert_not_authorized(limited.call("wamp.session.count"))
    await assert_not_authorized(limited.call("wamp.registration.list"))
    # And the session is still fine afterwards.
    assert limited.is_attached()
    assert await within(admin.call("wamp.session.count")) == 2


async def test_denied_actions_have_no_effect(url, client):
    admin = await client(url, auth=ADMIN)
    received = []
    await within(admin.subscribe(lambda *a: received.append(a), "com.example.allowed.topic"))
    limited = await client(url, auth=LIMITED)
    await assert_not_authorized(raw_publish(limited, "com.example.allowed.topic"))
    await assert_not_authorized(raw_register(limited, "com.example.allowed.taken"))
    await assert_not_authorized(raw_subscribe(limited, "com.example.allowed.topic"))
    # The registration did not happen: the admin can take the URI.
    await within(admin.register(lambda: "admin's", "com.example.allowed.taken"))
    assert await within(raw_call(limited, "com.example.allowed.taken")) == "admin's"
    await asyncio.sleep(0.2)
    assert received == [], "the denied publication reached nobody"


# -- dynamic authorizer ------------------------------------------------------------


class Authorizer:
    """Allows URIs under com.example.ok.; decisions on com.example.ok.cached.* may be cached."""

    def __init__(self):
        self.calls = []

    def __call__(self, session, uri, action, options):
        self.calls.append((session, uri, action, options))
        allow = uri.startswith("com.example.ok.")
        return {"allow": allow, "disclose": allow, "cache": uri.startswith("com.example.ok.cached.")}


@pytest.fixture
async def authorizer(url, client):
    """An `Authorizer` registered as com.example.authorize by an admin session, which also
    offers a procedure for each URI the tests call."""
    admin = await client(url, auth=ADMIN)
    authorizer = Authorizer()
    await within(admin.register(authorizer, "com.example.authorize"))

    def whoami(details: CallDetails):
        return details.caller_authid

    for uri in ["com.example.ok.cached.p", "com.example.ok.fresh.p", "com.example.no.p"]:
        await within(admin.register(whoami, uri, options=RegisterOptions(details_arg="details")))
    return authorizer


async def test_the_authorizer_decides(url, client, authorizer):
    dyn = await client(url, auth=DYNAMIC)
    assert await within(dyn.call("com.example.ok.fresh.p")) == "dyn", "allowed, caller disclosed"
    await assert_not_authorized(dyn.call("com.example.no.p"))
    await assert_not_authorized(dyn.register(lambda: None, "com.example.no.mine"))
    [first, second, third] = authorizer.calls
    session, uri, action, _options = first
    assert (uri, action) == ("com.example.ok.fresh.p", "call")
    assert (session["authid"], session["authrole"]) == ("dyn", "dynamic")
    assert session["session"] == dyn.joined.result().session
    assert second[1:3] == ("com.example.no.p", "call")
    assert third[1:3] == ("com.example.no.mine", "register")


async def test_cached_decisions_are_not_asked_again(url, client, authorizer):
    dyn = await client(url, auth=DYNAMIC)
    for _ in range(3):
        assert await within(dyn.call("com.example.ok.cached.p")) == "dyn"
        assert await within(dyn.call("com.example.ok.fresh.p")) == "dyn"
    asked = [uri for _, uri, _, _ in authorizer.calls]
    assert asked.count("com.example.ok.cached.p") == 1, asked
    assert asked.count("com.example.ok.fresh.p") == 3, asked


async def test_the_cache_is_per_session(url, client, authorizer):
    for _ in range(2):
        dyn = await client(url, auth=DYNAMIC)
        assert await within(dyn.call("com.example.ok.cached.p")) == "dyn"
        assert await within(dyn.call("com.example.ok.cached.p")) == "dyn"
    asked = [uri for _, uri, _, _ in authorizer.calls]
    assert asked == ["com.example.ok.cached.p"] * 2, asked


async def test_without_an_authorizer_everything_is_denied(url, client):
    admin = await client(url, auth=ADMIN)
    await within(admin.register(lambda: "x", "com.example.ok.fresh.p"))
    dyn = await client(url, auth=DYNAMIC)
    await assert_not_authorized(dyn.call("com.example.ok.fresh.p"))


# -- roles the realm does not define -----------------------------------------------


async def test_a_principal_with_an_undefined_role_is_refused(url, client):
    with pytest.raises(JoinRefused) as err:
        await client(url, auth=ticket("ghost", "ghost-secret"))
    assert err.value.reason == "wamp.error.no_such_role"
