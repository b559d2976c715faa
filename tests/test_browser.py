"""A web frontend: autobahn-js (the browser build) in a real headless Chromium against the gateway.

The page joins with one serializer, calls procedures a Python (autobahn-python) session
registered — plain, progressive, binary arguments —, subscribes and publishes, and meets the
errors a frontend meets (no such procedure, an invalid URI, which must not end its session).
`tests/browser/run.mjs` drives Chromium through playwright-core; `scripts/test` installs Debian's
chromium and the pinned npm packages. Without them this test reports itself skipped and says why.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest
from autobahn.wamp.types import CallResult, RegisterOptions

from wampclient import connect, within

BROWSER_DIR = Path(__file__).parent / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def missing() -> str | None:
    if not shutil.which("node"):
        return "node is not installed"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    for package in ["autobahn-browser", "playwright-core"]:
        if not (BROWSER_DIR / "node_modules" / package).is_dir():
            return f"npm package {package} is not installed (npm ci in tests/browser)"
    return None


pytestmark = pytest.mark.skipif(missing() is not None, reason=f"browser test: {missing()}")


async def run_page(url: str, serializer: str) -> dict:
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(BROWSER_DIR / "run.mjs"),
        url,
        serializer,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "CHROMIUM": CHROMIUM},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, f"the page failed:\n{err.decode()}\n{out.decode()}"
    return json.loads(out.decode().strip().splitlines()[-1])


@pytest.mark.timeout(90)
async def test_a_browser_frontend_uses_rpc_and_pubsub(router_url, session, serializer):
    backend = await session()

    def add(a, b):
        return a + b

    async def count(n, details=None):
        for i in range(n):
            if details is not None and details.progress:
                details.progress(i)
            await asyncio.sleep(0)
        return n

    def echo(*args):
        return CallResult(*args)

    await within(backend.register(add, "com.example.browser.add"))
    await within(backend.register(count, "com.example.browser.count", RegisterOptions(details_arg="details")))
    await within(backend.register(echo, "com.example.browser.echo"))

    seen = await run_page(router_url, serializer)

    assert seen["transport"]["serializer"] == serializer, seen["transport"]
    assert seen["transport"]["type"] == "websocket"
    assert seen["sum"] == 5
    assert seen["progress"] == [0, 1, 2]
    assert seen["final"] == 3
    first = "plain" if serializer == "json" else [0, 1, 255]  # see run.mjs: binary over msgpack/cbor
    assert seen["echo"] == [first, "héllo"], "binary and text arguments survive the round trip"
    assert seen["event"] == {"args": ["hi"], "kwargs": {"from": "browser"}}
    assert seen["missing"]["error"] == "wamp.error.no_such_procedure"
    assert seen["invalid"]["error"] == "wamp.error.invalid_uri"
    assert seen["still_open"] is True, "an invalid URI is an ERROR, not the end of the session"
    assert seen["closed"] == "closed", seen


@pytest.mark.timeout(90)
async def test_a_browser_traceparent_reaches_the_database(tmp_path, serializer):
    """One trace from browser to database: the page's W3C traceparent (CALL option) is what the
    PostgreSQL function sees as `wamp.traceparent` and as `application_name` while it runs. With
    telemetry off the gateway forwards it unchanged, as W3C Trace Context asks of a hop that does
    not trace itself."""
    from gateway_process import DEFAULT_CONFIG, start_gateway, stop_gateway
    from test_postgres_bridge import BRIDGE_CONFIG, DSN, psql

    schema = f"browser_{os.urandom(6).hex()}"
    psql(
        f"create schema {schema};\n"
        f"create function {schema}.trace() returns jsonb language sql stable as $$ select jsonb_build_object("
        "'traceparent', current_setting('wamp.traceparent', true), 'application_name', current_setting('application_name')) $$;"
    )
    config = DEFAULT_CONFIG + BRIDGE_CONFIG.format(dsn=DSN, pool_size=2, consumer=schema, schema=schema)
    gw = start_gateway(tmp_path, config)
    try:
        probe = await connect(gw.url, "json", "realm1")
        try:
            for _ in range(200):
                if await within(probe.call("wamp.registration.lookup", "com.pg.trace")) is not None:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("com.pg.trace was not registered within 10 s")
        finally:
            await probe.close()
        traceparent = f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"
        proc = await asyncio.create_subprocess_exec(
            "node", str(BROWSER_DIR / "run.mjs"), gw.url, serializer, "trace", "com.pg.trace", traceparent,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "CHROMIUM": CHROMIUM},
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode == 0, f"the page failed:\n{err.decode()}\n{out.decode()}"
        answer = json.loads(out.decode().strip().splitlines()[-1])["answer"]
        assert answer == {"traceparent": traceparent, "application_name": traceparent}
    finally:
        stop_gateway(gw)
        psql(f"drop schema if exists {schema} cascade; delete from wamp.consumer where name = '{schema}';")
