"""A thin, deterministic test client on top of autobahn-python's asyncio API.

autobahn's `ApplicationRunner`/`Component` own the event loop and reconnect on
their own; a test wants the opposite: one connection, explicit awaits, and a
clear failure when the router does not answer in time. `connect()` opens one
WebSocket with one serializer, joins one realm and returns the joined session.

The `raw_*` helpers send requests autobahn refuses to send itself (URIs that
fail its local check, ids it does not know about) — a router must still answer
those with an ERROR, so the tests need to be able to send them.

Authentication: `connect(..., auth=Auth(...))` offers `auth.authmethods` (with
authid and authextra) in HELLO and answers each CHALLENGE with autobahn's own
authenticator for that method (`autobahn.wamp.auth`), exactly as an autobahn
`Component` would; `ticket()`, `wampcra()` and `cryptosign()` build the usual
ones. The CHALLENGEs received are kept in `Client.challenges`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import txaio

txaio.use_asyncio()

from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp import auth as wamp_auth  # noqa: E402
from autobahn.wamp import message  # noqa: E402
from autobahn.wamp.request import (  # noqa: E402
    CallRequest,
    PublishRequest,
    RegisterRequest,
    SubscribeRequest,
    UnregisterRequest,
    UnsubscribeRequest,
)
from autobahn.wamp.serializer import (  # noqa: E402
    CBORSerializer,
    JsonSerializer,
    MsgPackSerializer,
)
from autobahn.wamp.types import ComponentConfig  # noqa: E402

#: The serializers every test runs with, by WAMP subprotocol suffix.
SERIALIZERS = {
    "json": JsonSerializer,
    "msgpack": MsgPackSerializer,
    "cbor": CBORSerializer,
}

#: Default wait for a single router reply; generous for a debug build on 2 cores.
REPLY_TIMEOUT = 5.0

MAX_ID = 2**53


class JoinRefused(Exception):
    """The router answered HELLO with ABORT (or closed before WELCOME)."""

    def __init__(self, reason: str, message: str | None):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class Client(ApplicationSession):
    """An `ApplicationSession` whose lifecycle is observable through futures."""

    def __init__(self, config: ComponentConfig):
        super().__init__(config)
        loop = asyncio.get_running_loop()
        self.joined: asyncio.Future = loop.create_future()
        self.left: asyncio.Future = loop.create_future()
        self.disconnected: asyncio.Future = loop.create_future()
        self.welcome = None
        self.tcp: asyncio.Transport | None = None

    # -- autobahn callbacks ---------------------------------------------------

    def onConnect(self):
        self.join(self.config.realm)

    def onWelcome(self, msg):
        self.welcome = msg
        return None

    def onJoin(self, details):
        if not self.joined.done():
            self.joined.set_result(details)

    def onLeave(self, details):
        if not self.joined.done():
            self.joined.set_exception(JoinRefused(details.reason, details.message))
        if not self.left.done():
            self.left.set_result(details)
        return super().onLeave(details)

    def onDisconnect(self):
        if not self.joined.done():
            self.joined.set_exception(
                JoinRefused("transport closed before WELCOME", None)
            )
        if not self.disconnected.done():
            self.disconnected.set_result(None)
        return super().onDisconnect()

    # -- test conveniences ----------------------------------------------------

    async def close(self, timeout: float = REPLY_TIMEOUT) -> None:
        """GOODBYE (if joined) and wait until the connection is closed."""
        if self.disconnected.done():
            return
        if self.is_attached():
            self.leave()
        elif self.is_connected():
            self.disconnect()
        await asyncio.wait_for(asyncio.shield(self.disconnected), timeout)

    def drop(self) -> None:
        """Abort the TCP connection without GOODBYE or WebSocket close."""
        assert self.tcp is not None
        self.tcp.abort()


# -- authentication --------------------------------------------------------------


@dataclass
class Auth:
    """What HELLO offers, and autobahn authenticators that answer the CHALLENGEs."""

    authmethods: list[str]
    authid: str | None = None
    authrole: str | None = None
    authextra: dict[str, Any] | None = None
    #: autobahn `IAuthenticator`s (`autobahn.wamp.auth.Auth*`), found by CHALLENGE method.
    authenticators: list[Any] = field(default_factory=list)

    def plus(self, other: "Auth") -> "Auth":
        """Both offers, this one's methods first (the router takes the first it has)."""
        extra = {**(self.authextra or {}), **(other.authextra or {})}
        return Auth(
            authmethods=self.authmethods + other.authmethods,
            authid=self.authid or other.authid,
            authrole=self.authrole or other.authrole,
            authextra=extra or None,
            authenticators=self.authenticators + other.authenticators,
        )


def anonymous() -> Auth:
    return Auth(authmethods=["anonymous"])


def ticket(authid: str | None, secret: str) -> Auth:
    """WAMP-Ticket with autobahn's `AuthTicket`."""
    return Auth(["ticket"], authid=authid, authenticators=[wamp_auth.AuthTicket(ticket=secret)])


def wampcra(authid: str, secret: str) -> Auth:
    """WAMP-CRA with autobahn's `AuthWampCra` (derives the key itself when the challenge is salted)."""
    return Auth(["wampcra"], authid=authid, authenticators=[wamp_auth.AuthWampCra(authid=authid, secret=secret)])


def cryptosign(privkey_hex: str, authid: str | None = None) -> Auth:
    """WAMP-Cryptosign with autobahn's `AuthCryptoSign`; HELLO carries `authextra.pubkey`."""
    signer = wamp_auth.AuthCryptoSign(privkey=privkey_hex)
    return Auth(["cryptosign"], authid=authid, authextra=dict(signer.authextra), authenticators=[signer])


class AuthClient(Client):
    """A `Client` that authenticates with `Auth`."""

    def __init__(self, config: ComponentConfig, auth: Auth):
        super().__init__(config)
        self.auth = auth
        self.challenges: list = []

    def onConnect(self):
        a = self.auth
        self.join(
            self.config.realm,
            authmethods=a.authmethods,
            authid=a.authid,
            authrole=a.authrole,
            authextra=a.authextra,
        )

    def onChallenge(self, challenge):
        self.challenges.append(challenge)
        for authenticator in self.auth.authenticators:
            if authenticator.name == challenge.method:
                return authenticator.on_challenge(self, challenge)
        raise RuntimeError(f"no authenticator for a {challenge.method!r} challenge")


async def connect(
    url: str,
    serializer: str = "json",
    realm: str = "realm1",
    timeout: float = REPLY_TIMEOUT,
    auth: Auth | None = None,
) -> Client:
    """Open a WebSocket to `url` with one serializer and join `realm`.

    With `auth`, HELLO offers its methods and CHALLENGEs are answered (an
    `AuthClient`). Raises `JoinRefused` on ABORT and `asyncio.TimeoutError`
    when the router does not answer within `timeout`.
    """
    loop = asyncio.get_running_loop()
    parsed = urlparse(url)
    created: asyncio.Future = loop.create_future()

    def make_session() -> Client:
        # Called by autobahn once the WebSocket opening handshake is done.
        config = ComponentConfig(realm=realm)
        session = Client(config) if auth is None else AuthClient(config, auth)
        if not created.done():
            created.set_result(session)
        return session

    factory = WampWebSocketClientFactory(
        make_session, url=url, serializers=[SERIALIZERS[serializer]()]
    )
    tcp, _protocol = await asyncio.wait_for(
        loop.create_connection(factory, parsed.hostname, parsed.port), timeout
    )
    try:
        session = await asyncio.wait_for(created, timeout)
        session.tcp = tcp
        await asyncio.wait_for(asyncio.shield(session.joined), timeout)
    except BaseException:
        tcp.abort()
        raise
    return session


async def within(awaitable, timeout: float = REPLY_TIMEOUT):
    """Await with a timeout, so a silent router fails the test instead of hanging it."""
    return await asyncio.wait_for(awaitable, timeout)


# -- requests autobahn would refuse to send ------------------------------------


def _send(session: Client, pending: dict, request, msg) -> asyncio.Future:
    if session._transport is None:
        raise AssertionError("session transport is already closed")
    pending[request.request_id] = request
    session._transport.send(msg)
    return request.on_reply


async def raw_call(session: Client, procedure: str, timeout: float = REPLY_TIMEOUT):
    """CALL `procedure` without autobahn's client-side URI check."""
    rid = session._request_id_gen.next()
    req = CallRequest(rid, procedure, txaio.create_future(), None)
    fut = _send(session, session._call_reqs, req, message.Call(rid, procedure))
    return await within(fut, timeout)


async def raw_register(session: Client, procedure: str, timeout: float = REPLY_TIMEOUT):
    """REGISTER `procedure` without autobahn's client-side URI check."""
    rid = session._request_id_gen.next()
    req = RegisterRequest(rid, txaio.create_future(), procedure, None)
    fut = _send(session, session._register_reqs, req, message.Register(rid, procedure))
    return await within(fut, timeout)


async def raw_subscribe(session: Client, topic: str, timeout: float = REPLY_TIMEOUT):
    """SUBSCRIBE to `topic` without autobahn's client-side URI check."""
    rid = session._request_id_gen.next()
    req = SubscribeRequest(rid, topic, txaio.create_future(), None)
    fut = _send(session, session._subscribe_reqs, req, message.Subscribe(rid, topic))
    return await within(fut, timeout)


async def raw_publish(session: Client, topic: str, timeout: float = REPLY_TIMEOUT):
    """PUBLISH (acknowledged) to `topic` without autobahn's client-side URI check."""
    rid = session._request_id_gen.next()
    req = PublishRequest(rid, txaio.create_future(), False)
    msg = message.Publish(rid, topic, acknowledge=True)
    fut = _send(session, session._publish_reqs, req, msg)
    return await within(fut, timeout)


async def raw_unregister(
    session: Client, registration_id: int, timeout: float = REPLY_TIMEOUT
):
    """UNREGISTER an id this session never registered."""
    rid = session._request_id_gen.next()
    req = UnregisterRequest(rid, txaio.create_future(), registration_id)
    msg = message.Unregister(rid, registration_id)
    fut = _send(session, session._unregister_reqs, req, msg)
    return await within(fut, timeout)


async def raw_unsubscribe(
    session: Client, subscription_id: int, timeout: float = REPLY_TIMEOUT
):
    """UNSUBSCRIBE an id this session never subscribed."""
    rid = session._request_id_gen.next()
    req = UnsubscribeRequest(rid, txaio.create_future(), subscription_id)
    msg = message.Unsubscribe(rid, subscription_id)
    fut = _send(session, session._unsubscribe_reqs, req, msg)
    return await within(fut, timeout)
