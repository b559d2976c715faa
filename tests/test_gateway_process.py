"""The gateway binary as a process: listening lines, SIGTERM, `gateway check`.

These need the gateway itself, so they are skipped (by name) when
WAMP_TEST_ROUTER_URL points the suite at another router.
"""

import asyncio
import os
import subprocess

import pytest

from gateway_process import DEFAULT_CONFIG, gateway_binary, start_gateway, stop_gateway
from wampclient import connect, within

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("WAMP_TEST_ROUTER_URL")),
    reason="tests the gateway binary itself; WAMP_TEST_ROUTER_URL is set",
)

TWO_TRANSPORTS = DEFAULT_CONFIG.replace(
    "[[realms]]",
    """[[transports]]
type = "websocket"
listen = "127.0.0.1:0"
path = "/second"
serializers = ["cbor"]
[transports.auth.anonymous]
role = "anonymous"

[[realms]]""",
    1,
)


def check(config_path):
    return subprocess.run(
        [str(gateway_binary()), "check", "--config", str(config_path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )


async def test_sigterm_with_open_session_exits_zero(tmp_path):
    gw = start_gateway(tmp_path)
    try:
        client = await connect(gw.url, "json")
    except BaseException:
        stop_gateway(gw)
        raise
    await asyncio.get_running_loop().run_in_executor(None, stop_gateway, gw)  # exit 0
    await within(asyncio.shield(client.disconnected))


async def test_one_listening_line_per_transport(tmp_path):
    gw = start_gateway(tmp_path, TWO_TRANSPORTS, expected_transports=2)
    try:
        assert [u.rsplit("/", 1)[1] for u in gw.urls] == ["ws", "second"]
        for url, ser in zip(gw.urls, ["msgpack", "cbor"]):
            client = await connect(url, ser)
            assert client.joined.result().realm == "realm1"
            await client.close()
    finally:
        stop_gateway(gw)


def test_check_accepts_the_test_config(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text(DEFAULT_CONFIG)
    result = check(path)
    assert result.returncode == 0, result.stderr


BAD_CONFIGS = {
    "unknown_field": ("bogus_setting = 1\n" + DEFAULT_CONFIG, "bogus_setting"),
    "unknown_serializer": (DEFAULT_CONFIG.replace('"cbor"]', '"xml"]'), "xml"),
    "not_toml": ("[[transports]\nthis is not toml", None),
}


@pytest.mark.parametrize(
    "name,config,mentions",
    [(name, *case) for name, case in BAD_CONFIGS.items()],
    ids=list(BAD_CONFIGS),
)
def test_check_rejects_bad_config(tmp_path, name, config, mentions):
    path = tmp_path / f"{name}.toml"
    path.write_text(config)
    result = check(path)
    assert result.returncode != 0, f"`gateway check` accepted {name}: {result.stdout}"
    if mentions:
        assert mentions in result.stderr + result.stdout
