"""Fixtures: a real router per test, and real autobahn clients talking to it.

By default every test starts its own `target/debug/gateway` on port 0 (see
`gateway_process.py`) and stops it with SIGTERM afterwards, asserting exit 0.

Set `WAMP_TEST_ROUTER_URL=ws://HOST:PORT/PATH` to run the WAMP tests against a
router that is already running (e.g. Crossbar.io, to check the expectations
against the reference router; see `scripts/test-against-crossbar`). The router
must serve realm `realm1` to anonymous clients with every permission. Tests of
the gateway process itself are then skipped, by name.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from gateway_process import start_gateway, stop_gateway
from wampclient import SERIALIZERS, connect

EXTERNAL_ROUTER_URL = os.environ.get("WAMP_TEST_ROUTER_URL")


def pytest_report_header(config):
    if EXTERNAL_ROUTER_URL:
        return f"router: external, {EXTERNAL_ROUTER_URL} (WAMP_TEST_ROUTER_URL)"
    from gateway_process import gateway_binary

    return f"router: gateway binary {gateway_binary()}, one per test"


@pytest.fixture
def router_url(tmp_path):
    """URL of the router under test: a fresh gateway, or WAMP_TEST_ROUTER_URL."""
    if EXTERNAL_ROUTER_URL:
        yield EXTERNAL_ROUTER_URL
        return
    gw = start_gateway(tmp_path)
    yield gw.url
    stop_gateway(gw)


@pytest.fixture(params=list(SERIALIZERS))
def serializer(request) -> str:
    return request.param


@pytest.fixture
async def session(router_url, serializer):
    """Factory: `await session()` opens a joined session; all are closed at teardown."""
    opened = []

    async def open_session(serializer_name: str | None = None, realm: str = "realm1", **kw):
        client = await connect(router_url, serializer_name or serializer, realm, **kw)
        opened.append(client)
        return client

    yield open_session

    async def close(client):
        if client.disconnected.done():
            return
        try:
            await client.close()
        except Exception:  # a session the test broke on purpose
            client.tcp.abort()

    await asyncio.gather(*(close(c) for c in opened))


@pytest.fixture
def gateway(tmp_path):
    """Factory: `gateway(config_toml, transports=N)` starts a gateway serving that
    config and returns it (`.urls` in the config's order); every gateway started
    is stopped at teardown, exit 0 asserted. For tests of the gateway's own
    configuration (auth, roles), which WAMP_TEST_ROUTER_URL cannot serve."""
    started = []

    def start(config: str, transports: int = 1):
        workdir = tmp_path / f"gateway-{len(started)}"
        workdir.mkdir()
        gw = start_gateway(workdir, config, expected_transports=transports)
        started.append(gw)
        return gw

    yield start

    for gw in started:
        stop_gateway(gw)


@pytest.fixture
async def client(serializer):
    """Factory: `await client(url, auth=..., realm=...)` joins with the test's
    serializer (`wampclient.connect`); every client is closed at teardown."""
    opened = []

    async def open_client(url: str, serializer_name: str | None = None, realm: str = "realm1", **kw):
        c = await connect(url, serializer_name or serializer, realm, **kw)
        opened.append(c)
        return c

    yield open_client

    async def close(c):
        if c.disconnected.done():
            return
        try:
            await c.close()
        except Exception:  # a session the test broke on purpose
            c.tcp.abort()

    await asyncio.gather(*(close(c) for c in opened))
