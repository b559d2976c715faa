"""autobahn clients over the other transports: RawSocket (TCP, Unix, TLS) and wss.

Same contract as `wampclient.connect`: one connection, one serializer, one
realm, a joined `Client` back, `JoinRefused` on ABORT and a timeout when the
router does not answer. `authmethods` is passed to HELLO when given (e.g.
`["tls"]` for TLS client certificate authentication).
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from urllib.parse import urlparse

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp.types import ComponentConfig

from wampclient import REPLY_TIMEOUT, SERIALIZERS, Client


class MethodsClient(Client):
    """A `Client` whose HELLO names its `authmethods`."""

    def __init__(self, config: ComponentConfig, authmethods: list[str] | None):
        super().__init__(config)
        self.authmethods = authmethods

    def onConnect(self):
        self.join(self.config.realm, authmethods=self.authmethods)


def _session_factory(realm: str, authmethods: list[str] | None):
    created: asyncio.Future = asyncio.get_running_loop().create_future()

    def make_session() -> Client:
        # Called by autobahn once the transport's opening handshake is done.
        session = MethodsClient(ComponentConfig(realm=realm), authmethods)
        if not created.done():
            created.set_result(session)
        return session

    return make_session, created


async def _join(opening, created: asyncio.Future, timeout: float) -> Client:
    tcp, _protocol = await asyncio.wait_for(opening, timeout)
    try:
        session = await asyncio.wait_for(created, timeout)
        session.tcp = tcp
        await asyncio.wait_for(asyncio.shield(session.joined), timeout)
    except BaseException:
        tcp.abort()
        raise
    return session


async def connect_rawsocket(
    url: str,
    serializer: str = "json",
    realm: str = "realm1",
    *,
    ssl: ssl_module.SSLContext | None = None,
    authmethods: list[str] | None = None,
    timeout: float = REPLY_TIMEOUT,
) -> Client:
    """Join `realm` over RawSocket at `tcp://HOST:PORT`, `tcps://HOST:PORT` (with `ssl`) or `unix:PATH`."""
    loop = asyncio.get_running_loop()
    make_session, created = _session_factory(realm, authmethods)
    factory = WampRawSocketClientFactory(make_session, serializer=SERIALIZERS[serializer]())
    parsed = urlparse(url)
    if parsed.scheme == "unix":
        opening = loop.create_unix_connection(factory, parsed.path)
    elif parsed.scheme in ("tcp", "tcps"):
        if (parsed.scheme == "tcps") != (ssl is not None):
            raise ValueError(f"{url}: tcps:// needs an SSL context, tcp:// takes none")
        opening = loop.create_connection(factory, parsed.hostname, parsed.port, ssl=ssl)
    else:
        raise ValueError(f"not a RawSocket URL: {url}")
    return await _join(opening, created, timeout)


async def connect_websocket(
    url: str,
    serializer: str = "json",
    realm: str = "realm1",
    *,
    ssl: ssl_module.SSLContext | None = None,
    authmethods: list[str] | None = None,
    timeout: float = REPLY_TIMEOUT,
) -> Client:
    """Join `realm` over WebSocket at `ws://…` or `wss://…` (with `ssl`)."""
    loop = asyncio.get_running_loop()
    make_session, created = _session_factory(realm, authmethods)
    factory = WampWebSocketClientFactory(make_session, url=url, serializers=[SERIALIZERS[serializer]()])
    parsed = urlparse(url)
    opening = loop.create_connection(factory, parsed.hostname, parsed.port, ssl=ssl)
    return await _join(opening, created, timeout)
