"""Authentication with autobahn-python: anonymous, ticket, WAMP-CRA (plain and
salted), cryptosign and the dynamic authenticator, in all three serializers.

Each test starts a gateway with `CONFIG`: transport 0 has every method,
transport 1 only tickets, transport 2 no `auth` section at all. The clients
answer CHALLENGEs with autobahn's own authenticators (`wampclient.Auth`).
These need the gateway's own configuration, so they are skipped (by name) when
WAMP_TEST_ROUTER_URL points the suite at another router.
"""

from __future__ import annotations

import json
import os
import re

import nacl.signing
import pytest
from autobahn.wamp.exception import ApplicationError

from wampclient import JoinRefused, anonymous, cryptosign, ticket, wampcra, within

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("WAMP_TEST_ROUTER_URL")),
    reason="tests the gateway's own auth configuration; WAMP_TEST_ROUTER_URL is set",
)

ALL = {"call": True, "register": True, "publish": True, "subscribe": True}


def _everything() -> str:
    flags = ", ".join(f"{k} = true" for k in ALL)
    return f'[{{ uri = "", match = "prefix", {flags} }}]'


CONFIG = """
[[transports]]
type = "websocket"
listen = "127.0.0.1:0"
[transports.auth.anonymous]
role = "anonymous"
[transports.auth.ticket.principals.alice]
ticket = "alice-secret"
role = "user"
[transports.auth.ticket.principals.backend]
ticket = "backend-secret"
role = "backend"
[transports.auth.ticket.principals.envy]
ticket = "${{TEST_AUTH_ENVY_TICKET}}"
role = "user"
[transports.auth.wampcra.users.bob]
secret = "bob-secret"
role = "user"
[transports.auth.wampcra.users.dave]
secret = "dave-secret"
role = "admin"
salt = "salt123"
iterations = 100
keylen = 16
[transports.auth.cryptosign.principals.carol]
authorized_keys = ["{carol_pubkey}"]
role = "user"
[transports.auth.dynamic]
authenticator = "com.example.authenticate"

[[transports]]
type = "websocket"
listen = "127.0.0.1:0"
[transports.auth.ticket.principals.alice]
ticket = "alice-secret"
role = "user"

[[transports]]
type = "websocket"
listen = "127.0.0.1:0"

[[transports]]
type = "websocket"
listen = "127.0.0.1:0"
[transports.auth.wampcra.users.bob]
secret = "bob-secret"
role = "user"
[transports.auth.dynamic]
authenticator = "com.example.authenticate"
methods = ["ticket", "wampcra", "cryptosign"]

[[realms]]
name = "realm1"
[[realms.roles]]
name = "anonymous"
permissions = {everything}
[[realms.roles]]
name = "user"
permissions = {everything}
[[realms.roles]]
name = "admin"
permissions = {everything}
[[realms.roles]]
name = "backend"
permissions = [{{ uri = "com.example.authenticate", register = true }}]

[[realms]]
name = "realm2"
[[realms.roles]]
name = "user"
permissions = {everything}
"""


@pytest.fixture
def carol_key() -> nacl.signing.SigningKey:
    """Carol's Ed25519 key, new for every test."""
    return nacl.signing.SigningKey.generate()


@pytest.fixture
def urls(gateway, carol_key, monkeypatch):
    """The four transports' URLs of a gateway serving `CONFIG`."""
    monkeypatch.setenv("TEST_AUTH_ENVY_TICKET", "envy-from-the-environment")
    pubkey = carol_key.verify_key.encode().hex()
    gw = gateway(CONFIG.format(carol_pubkey=pubkey, everything=_everything()), transports=4)
    return gw.urls


def privkey_hex(key: nacl.signing.SigningKey) -> str:
    return bytes(key).hex()


def assert_identity(client, authid, authrole, authmethod, authprovider):
    details = client.joined.result()
    assert (details.authid, details.authrole, details.authmethod, details.authprovider) == (
        authid,
        authrole,
        authmethod,
        authprovider,
    )


async def refused(client_factory, url, auth, realm="realm1") -> JoinRefused:
    with pytest.raises(JoinRefused) as err:
        await client_factory(url, auth=auth, realm=realm)
    return err.value


def assert_discreet(err: JoinRefused, *secrets: str):
    """The ABORT message says that authentication failed, not why."""
    assert err.message == "authentication failed", err.message
    for secret in secrets:
        assert secret not in err.message


# -- anonymous and method selection ------------------------------------------------


async def test_anonymous(urls, client):
    c = await client(urls[0], auth=anonymous())
    details = c.joined.result()
    assert (details.authrole, details.authmethod, details.authprovider) == ("anonymous", "anonymous", "static")
    assert details.authid.startswith("anonymous-")


async def test_no_authmethods_means_anonymous_where_it_is_allowed(urls, client):
    c = await client(urls[0])
    assert c.joined.result().authmethod == "anonymous"
    err = await refused(client, urls[1], None)
    assert err.reason == "wamp.error.no_matching_auth_method"


async def test_the_clients_order_of_methods_wins(urls, client):
    first_cra = await client(urls[0], auth=wampcra("bob", "bob-secret").plus(ticket("bob", "x")))
    assert_identity(first_cra, "bob", "user", "wampcra", "static")
    first_ticket = await client(urls[0], auth=ticket("alice", "alice-secret").plus(anonymous()))
    assert_identity(first_ticket, "alice", "user", "ticket", "static")
    first_anonymous = await client(urls[0], auth=anonymous().plus(ticket("alice", "alice-secret")))
    assert first_anonymous.joined.result().authmethod == "anonymous"


async def test_methods_the_transport_lacks_are_skipped(urls, client, carol_key):
    # Transport 1 has tickets only: cryptosign, offered first, is passed over. (HELLO has one
    # authid: alice's; the cryptosign key would have been enough to find carol.)
    c = await client(urls[1], auth=cryptosign(privkey_hex(carol_key)).plus(ticket("alice", "alice-secret")))
    assert_identity(c, "alice", "user", "ticket", "static")
    err = await refused(client, urls[1], cryptosign(privkey_hex(carol_key), "carol"))
    assert err.reason == "wamp.error.no_matching_auth_method"


async def test_a_transport_without_auth_refuses_everyone(urls, client):
    for auth in [None, anonymous(), ticket("alice", "alice-secret")]:
        err = await refused(client, urls[2], auth)
        assert err.reason == "wamp.error.no_matching_auth_method"


# -- ticket ------------------------------------------------------------------------


async def test_ticket(urls, client):
    c = await client(urls[0], auth=ticket("alice", "alice-secret"))
    assert_identity(c, "alice", "user", "ticket", "static")
    assert c.challenges[0].method == "ticket"
    assert await within(c.call("wamp.session.count")) >= 1, "the session works"


async def test_ticket_from_an_environment_variable(urls, client):
    c = await client(urls[0], auth=ticket("envy", "envy-from-the-environment"))
    assert_identity(c, "envy", "user", "ticket", "static")
    err = await refused(client, urls[0], ticket("envy", "${TEST_AUTH_ENVY_TICKET}"))
    assert err.reason == "wamp.error.authentication_failed"


async def test_ticket_wrong_secret(urls, client):
    for wrong in ["alice-secreT", "", "bob-secret"]:
        err = await refused(client, urls[0], ticket("alice", wrong))
        assert err.reason == "wamp.error.authentication_failed"
        assert_discreet(err, "alice-secret")


async def test_ticket_unknown_principal(urls, client):
    # Transport 1 has no dynamic authenticator to ask about unknown authids.
    err = await refused(client, urls[1], ticket("mallory", "alice-secret"))
    assert err.reason == "wamp.error.no_such_principal"
    assert_discreet(err)


# -- WAMP-CRA ----------------------------------------------------------------------


async def test_wampcra(urls, client):
    c = await client(urls[0], auth=wampcra("bob", "bob-secret"))
    assert_identity(c, "bob", "user", "wampcra", "static")
    challenge = c.challenges[0]
    assert challenge.method == "wampcra"
    assert "salt" not in challenge.extra
    fields = json.loads(challenge.extra["challenge"])
    assert fields["authid"] == "bob"
    assert fields["authrole"] == "user"
    assert fields["authmethod"] == "wampcra"
    assert fields["authprovider"] == "static"
    assert fields["session"] == c.joined.result().session, "the challenge names the session WELCOME gives"
    assert len(fields["nonce"]) == 64
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", fields["timestamp"]), fields["timestamp"]


async def test_wampcra_wrong_secret(urls, client):
    err = await refused(client, urls[0], wampcra("bob", "not-bobs-secret"))
    assert err.reason == "wamp.error.authentication_failed"
    assert_discreet(err, "bob-secret")


async def test_wampcra_unknown_principal(urls, client):
    err = await refused(client, urls[0], wampcra("eve", "bob-secret"))
    assert err.reason == "wamp.error.no_such_principal"
    assert_discreet(err)


async def test_wampcra_salted(urls, client):
    c = await client(urls[0], auth=wampcra("dave", "dave-secret"))
    assert_identity(c, "dave", "admin", "wampcra", "static")
    extra = c.challenges[0].extra
    assert (extra["salt"], extra["iterations"], extra["keylen"]) == ("salt123", 100, 16)
    err = await refused(client, urls[0], wampcra("dave", "bob-secret"))
    assert err.reason == "wamp.error.authentication_failed"


# -- cryptosign --------------------------------------------------------------------


async def test_cryptosign_by_authid(urls, client, carol_key):
    c = await client(urls[0], auth=cryptosign(privkey_hex(carol_key), "carol"))
    assert_identity(c, "carol", "user", "cryptosign", "static")
    extra = c.challenges[0].extra
    assert len(extra["challenge"]) == 64 and extra["channel_binding"] is None


async def test_cryptosign_by_public_key_alone(urls, client, carol_key):
    c = await client(urls[0], auth=cryptosign(privkey_hex(carol_key)))
    assert_identity(c, "carol", "user", "cryptosign", "static")


async def test_cryptosign_wrong_key(urls, client):
    stranger = privkey_hex(nacl.signing.SigningKey.generate())
    # Nobody has this key: without an authid there is no principal to find.
    err = await refused(client, urls[0], cryptosign(stranger))
    assert err.reason == "wamp.error.no_such_principal"
    # Carol's authid with a key that is not hers: refused like a bad signature.
    err = await refused(client, urls[0], cryptosign(stranger, "carol"))
    assert err.reason == "wamp.error.authentication_failed"
    assert_discreet(err)


async def test_cryptosign_unknown_principal(urls, client, carol_key):
    err = await refused(client, urls[0], cryptosign(privkey_hex(carol_key), "dan"))
    assert err.reason == "wamp.error.no_such_principal"


# -- dynamic authenticator ---------------------------------------------------------


class Authenticator:
    """The test's dynamic authenticator: a procedure registered by an autobahn session."""

    def __init__(self):
        self.calls = []
        # gina's cryptosign key, known only to this authenticator.
        self.gina = nacl.signing.SigningKey.generate()

    def __call__(self, realm, authid, details):
        self.calls.append((realm, authid, details))
        if details["authmethod"] == "wampcra":
            if authid == "erin":
                return {"role": "user", "secret": "erin-secret"}
            if authid == "frank":
                return {"role": "admin", "secret": "frank-secret", "salt": "pepper", "iterations": 50, "keylen": 32}
            raise ApplicationError("com.example.unknown", f"no wampcra user {authid}")
        if details["authmethod"] == "cryptosign":
            gina_pub = self.gina.verify_key.encode().hex()
            if authid == "gina" or details["authextra"].get("pubkey") == gina_pub:
                return {"role": "user", "authid": "gina", "pubkey": gina_pub}
            raise ApplicationError("com.example.unknown", "no such key")
        token = details["ticket"]
        if token == "zoe-token":
            return "user"
        if token == "promote-me":
            return {"role": "admin", "authid": "zoe@example.com", "extra": {"greeting": "hello"}}
        if token == "elsewhere":
            return {"role": "user", "realm": "realm2"}
        if token == "no-such-role":
            return "ghost"
        raise ApplicationError("com.example.invalid_ticket", "the ticket of zoe expired yesterday")


@pytest.fixture
async def dynamic(urls, client):
    """An `Authenticator` registered as com.example.authenticate by a backend session."""
    backend = await client(urls[0], auth=ticket("backend", "backend-secret"))
    authenticator = Authenticator()
    await within(backend.register(authenticator, "com.example.authenticate"))
    return authenticator


async def test_dynamic_authenticator_assigns_the_role(urls, client, dynamic):
    c = await client(urls[0], auth=ticket("zoe", "zoe-token"))
    assert_identity(c, "zoe", "user", "ticket", "dynamic")
    [(realm, authid, details)] = dynamic.calls
    assert (realm, authid) == ("realm1", "zoe")
    assert details["authmethod"] == "ticket"
    assert details["ticket"] == "zoe-token"
    assert details["session"] == c.joined.result().session
    assert details["transport"]["type"] == "websocket"
    assert details["transport"]["peer"].startswith("127.0.0.1:")
    assert details["authextra"] == {}


async def test_dynamic_authenticator_may_set_authid_extra_and_realm(urls, client, dynamic):
    c = await client(urls[0], auth=ticket("zoe", "promote-me"))
    assert_identity(c, "zoe@example.com", "admin", "ticket", "dynamic")
    assert c.joined.result().authextra == {"greeting": "hello"}
    moved = await client(urls[0], auth=ticket("zoe", "elsewhere"))
    assert moved.joined.result().realm == "realm2"


async def test_dynamic_authenticator_rejects(urls, client, dynamic):
    err = await refused(client, urls[0], ticket("zoe", "stolen"))
    assert err.reason == "wamp.error.authentication_failed"
    assert_discreet(err, "expired", "invalid_ticket")
    assert len(dynamic.calls) == 1


async def test_dynamic_authenticator_role_not_in_realm(urls, client, dynamic):
    err = await refused(client, urls[0], ticket("zoe", "no-such-role"))
    assert err.reason == "wamp.error.no_such_role"


async def test_dynamic_authenticator_not_registered(urls, client):
    err = await refused(client, urls[0], ticket("zoe", "zoe-token"))
    assert err.reason == "wamp.error.authentication_failed"


async def test_static_principals_are_not_asked_about(urls, client, dynamic):
    c = await client(urls[0], auth=ticket("alice", "alice-secret"))
    assert_identity(c, "alice", "user", "ticket", "static")
    err = await refused(client, urls[0], ticket("alice", "zoe-token"))
    assert err.reason == "wamp.error.authentication_failed"
    assert dynamic.calls == []


# -- logs --------------------------------------------------------------------------


async def test_refusals_are_logged_but_secrets_never(gateway, client, carol_key, monkeypatch):
    monkeypatch.setenv("RUST_LOG", "trace")
    monkeypatch.setenv("TEST_AUTH_ENVY_TICKET", "envy-from-the-environment")
    config = CONFIG.format(carol_pubkey=carol_key.verify_key.encode().hex(), everything=_everything())
    gw = gateway(config, transports=3)
    for auth in [ticket("alice", "wrong-ticket-1"), wampcra("bob", "wrong-secret-2"), ticket("zoe", "zoe-token-3")]:
        await refused(client, gw.urls[0], auth)
    await client(gw.urls[0], auth=ticket("alice", "alice-secret"))
    await client(gw.urls[0], auth=ticket("envy", "envy-from-the-environment"))
    await client(gw.urls[0], auth=wampcra("dave", "dave-secret"))
    log = gw.stderr_path.read_text(errors="replace")
    assert "refused: wrong ticket" in log and "alice" in log, "operators see who was refused"
    for secret in ["wrong-ticket-1", "wrong-secret-2", "zoe-token-3", "alice-secret", "envy-from-the-environment", "dave-secret"]:
        assert secret not in log, f"{secret!r} appears in the gateway's log"


# -- dynamic wampcra and cryptosign (transport 3: methods = ticket, wampcra, cryptosign) ---------


async def test_dynamic_wampcra_gets_the_secret_and_the_router_challenges(urls, client, dynamic):
    c = await client(urls[3], auth=wampcra("erin", "erin-secret"))
    assert_identity(c, "erin", "user", "wampcra", "dynamic")
    [(realm, authid, details)] = dynamic.calls
    assert (realm, authid, details["authmethod"]) == ("realm1", "erin", "wampcra")
    assert "ticket" not in details and "secret" not in details
    challenge = json.loads(c.challenges[0].extra["challenge"])
    assert (challenge["authid"], challenge["authrole"], challenge["authprovider"]) == ("erin", "user", "dynamic")
    err = await refused(client, urls[3], wampcra("erin", "not-erins-secret"))
    assert err.reason == "wamp.error.authentication_failed"
    assert_discreet(err, "erin-secret")


async def test_dynamic_wampcra_with_a_salted_key(urls, client, dynamic):
    c = await client(urls[3], auth=wampcra("frank", "frank-secret"))
    assert_identity(c, "frank", "admin", "wampcra", "dynamic")
    extra = c.challenges[0].extra
    assert (extra["salt"], extra["iterations"], extra["keylen"]) == ("pepper", 50, 32)


async def test_dynamic_wampcra_refusal_and_static_users_first(urls, client, dynamic):
    err = await refused(client, urls[3], wampcra("mallory", "guess"))
    assert err.reason == "wamp.error.authentication_failed"
    assert_discreet(err, "no wampcra user")
    calls = len(dynamic.calls)
    c = await client(urls[3], auth=wampcra("bob", "bob-secret"))
    assert_identity(c, "bob", "user", "wampcra", "static")
    assert len(dynamic.calls) == calls, "a static user is not asked about"


async def test_dynamic_cryptosign_by_authid_or_by_key(urls, client, dynamic):
    gina = privkey_hex(dynamic.gina)
    c = await client(urls[3], auth=cryptosign(gina, "gina"))
    assert_identity(c, "gina", "user", "cryptosign", "dynamic")
    assert dynamic.calls[-1][2]["authextra"]["pubkey"] == dynamic.gina.verify_key.encode().hex()
    by_key = await client(urls[3], auth=cryptosign(gina))
    assert_identity(by_key, "gina", "user", "cryptosign", "dynamic")
    # Another key claiming gina: the authenticator names gina's key, the signature cannot match.
    err = await refused(client, urls[3], cryptosign(bytes(nacl.signing.SigningKey.generate()).hex(), "gina"))
    assert err.reason == "wamp.error.authentication_failed"


async def test_methods_the_dynamic_authenticator_does_not_list_are_static_only(urls, client, dynamic):
    # Transport 0's authenticator answers for tickets only (the default).
    err = await refused(client, urls[0], wampcra("erin", "erin-secret"))
    assert err.reason == "wamp.error.no_such_principal"
    assert dynamic.calls == []
