"""RawSocket transport: autobahn's RawSocket client over TCP and a Unix socket,
in all three serializers, against the gateway binary (join, RPC, PubSub).

These need the gateway itself (its rawsocket transports), so they are skipped
(by name) when WAMP_TEST_ROUTER_URL points the suite at another router.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from autobahn.wamp.types import CallResult, PublishOptions

from gateway_process import start_gateway, stop_gateway
from transport_clients import connect_rawsocket
from wampclient import connect, within

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("WAMP_TEST_ROUTER_URL")),
    reason="tests the gateway's own RawSocket transport; WAMP_TEST_ROUTER_URL is set",
)

REALM = """
[[realms]]
name = "realm1"
[[realms.roles]]
name = "anonymous"
permissions = [{ uri = "", match = "prefix", call = true, register = true, publish = true, subscribe = true }]
"""

#: RawSocket on TCP and on a Unix socket (relative to the config file), and a WebSocket.
CONFIG = (
    """
[[transports]]
type = "rawsocket"
listen = "127.0.0.1:0"
serializers = ["json", "msgpack", "cbor"]
max_message_size = 16777216
[transports.auth.anonymous]
role = "anonymous"

[[transports]]
type = "rawsocket"
unix = "wamp.sock"
[transports.auth.anonymous]
role = "anonymous"

[[transports]]
type = "websocket"
listen = "127.0.0.1:0"
[transports.auth.anonymous]
role = "anonymous"
"""
    + REALM
)

BLOB = bytes(range(256))


@pytest.fixture
def gateway(tmp_path):
    gw = start_gateway(tmp_path, CONFIG, expected_transports=3)
    assert gw.kinds == ["rawsocket", "rawsocket", "websocket"]
    yield gw
    stop_gateway(gw)


async def round_trip(callee, caller, publisher, subscriber):
    """RPC (with a binary argument) and an acknowledged publication to a subscriber."""

    def echo(*args, **kwargs):
        return CallResult(*args, **kwargs)

    await within(callee.register(echo, "com.example.echo"))
    await within(callee.register(lambda a, b: a + b, "com.example.add"))
    assert await within(caller.call("com.example.add", 2, 40)) == 42
    res = await within(caller.call("com.example.echo", "héllo ✓", BLOB, [1, {"k": None}], flag=True))
    assert list(res.results) == ["héllo ✓", BLOB, [1, {"k": None}]]
    assert res.kwresults == {"flag": True}

    received = asyncio.get_running_loop().create_future()
    await within(subscriber.subscribe(lambda *a, **kw: received.set_result((a, kw)), "com.example.news"))
    ack = await within(
        publisher.publish("com.example.news", "hello", 1, BLOB, options=PublishOptions(acknowledge=True))
    )
    assert ack.id > 0
    assert await within(received) == (("hello", 1, BLOB), {})


async def close_all(*clients):
    for client in clients:
        await client.close()


async def test_rawsocket_over_tcp(gateway, serializer):
    url = gateway.urls[0]
    assert url.startswith("tcp://127.0.0.1:"), url
    a = await connect_rawsocket(url, serializer)
    b = await connect_rawsocket(url, serializer)
    try:
        details = await a.joined
        assert (details.authmethod, details.authrole) == ("anonymous", "anonymous")
        await round_trip(callee=a, caller=b, publisher=a, subscriber=b)
    finally:
        await close_all(a, b)


async def test_rawsocket_over_unix(gateway, tmp_path, serializer):
    url = gateway.urls[1]
    assert url == f"unix:{tmp_path / 'wamp.sock'}", url
    a = await connect_rawsocket(url, serializer)
    b = await connect_rawsocket(url, serializer)
    try:
        await round_trip(callee=b, caller=a, publisher=b, subscriber=a)
    finally:
        await close_all(a, b)


async def test_rawsocket_and_websocket_share_the_router(gateway, serializer):
    raw = await connect_rawsocket(gateway.urls[0], serializer)
    unix = await connect_rawsocket(gateway.urls[1], "cbor")
    ws = await connect(gateway.urls[2], "json")
    try:
        await round_trip(callee=raw, caller=ws, publisher=unix, subscriber=raw)
        assert await within(unix.call("com.example.add", 1, 2)) == 3
    finally:
        await close_all(raw, unix, ws)


async def test_a_serializer_the_transport_does_not_serve_is_refused(tmp_path):
    config = CONFIG.replace('serializers = ["json", "msgpack", "cbor"]', 'serializers = ["cbor"]', 1)
    gw = start_gateway(tmp_path, config, expected_transports=3)
    try:
        host, port = gw.urls[0].removeprefix("tcp://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"\x7f\xf1\x00\x00")  # JSON
        assert await within(reader.readexactly(4)) == b"\x7f\x10\x00\x00"  # error 1
        assert await within(reader.read()) == b""
        writer.close()
        client = await connect_rawsocket(gw.urls[0], "cbor")
        await client.close()
    finally:
        stop_gateway(gw)
