"""PostgreSQL bridge, end to end: autobahn clients -> gateway (WebSocket) -> bridge -> PostgreSQL.

Each test gets a fresh schema (random name, dropped afterwards), its own event consumer name and
its own gateway process with a `[[bridges]] type = "postgres"` block exposing that schema under
`com.pg`. PostgreSQL must run at $WAMP_TEST_PG_DSN (default postgresql://postgres@127.0.0.1:5432/test;
scripts/test starts it); if it is unreachable the tests fail and say so. SQL for setup and checks
goes through `psql`. Tests of the gateway process are skipped (by name) against an external router.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import time

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions, PublishOptions  # noqa: F401

from conftest import EXTERNAL_ROUTER_URL
from gateway_process import DEFAULT_CONFIG, start_gateway, stop_gateway
from wampclient import connect, within

DSN = os.environ.get("WAMP_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")

pytestmark = pytest.mark.skipif(
    EXTERNAL_ROUTER_URL is not None, reason="the bridge runs inside the gateway process"
)

SCHEMA_SQL = r"""
create table {s}.audit (note text);
create function {s}.add(a int, b int default 10) returns int language sql immutable as 'select a + b';
create function {s}.nothing() returns void language plpgsql as $$ begin end $$;
create function {s}.doc(x int) returns jsonb language sql immutable
  as $$ select jsonb_build_object('x', x, 'list', jsonb_build_array(1, 'two', null)) $$;
create function {s}.pair(out total int, out label text) language sql immutable as $$ select 2, 'two' $$;
create function {s}.big(n int) returns table (i int, label text) language sql immutable
  as $$ select g, 'row ' || g from generate_series(1, n) g $$;
create function {s}.echo(t text, n numeric, b bool, jb jsonb, tstz timestamptz, d date, u uuid, raw bytea, arr int[])
  returns table (o_t text, o_n numeric, o_b bool, o_jb jsonb, o_tstz timestamptz, o_d date, o_u uuid, o_raw bytea, o_arr int[])
  language sql immutable as $$ select t, n, b, jb, tstz, d, u, raw, arr $$;
create function {s}.get_employee(id int) returns text language plpgsql stable as $$
begin raise exception 'com.pg.error.not_found: employee % not found', id; end $$;
create function {s}.sleepy(secs float8) returns int language plpgsql as $$ begin perform pg_sleep(secs); return 1; end $$;
create function {s}.whoami() returns jsonb language sql stable as $$
  select jsonb_build_object('session', current_setting('wamp.session'), 'authid', current_setting('wamp.authid'),
                            'authrole', current_setting('wamp.authrole')) $$;
create function {s}.hire(name text, topic text) returns int language plpgsql as $$
begin
  insert into {s}.audit values (name);
  perform wamp.publish(topic, jsonb_build_array(name));
  return 1;
end $$;
create function {s}.hire_then_fail(name text, topic text) returns int language plpgsql as $$
begin perform {s}.hire(name, topic); raise exception 'com.pg.error.nope: rolled back'; end $$;
"""


def psql(sql: str, *, single_transaction: bool = False) -> str:
    """Runs SQL with psql (each statement in its own transaction unless asked); returns stdout."""
    cmd = ["psql", DSN, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
    if single_transaction:
        cmd.append("--single-transaction")
    try:
        done = subprocess.run(cmd, input=sql, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        pytest.fail("psql not found: the PostgreSQL bridge tests need the PostgreSQL client", pytrace=False)
    if done.returncode != 0:
        pytest.fail(
            f"psql failed against {DSN} (is PostgreSQL running? scripts/test starts it):\n{done.stderr}",
            pytrace=False,
        )
    return done.stdout.strip()


BRIDGE_CONFIG = """
[[realms.roles]]
name = "bridge"
permissions = [{{ uri = "", match = "prefix", register = true, publish = true }}]

[[bridges]]
type = "postgres"
realm = "realm1"
dsn = "{dsn}"
pool_size = {pool_size}
consumer = "{consumer}"
poll_interval_ms = 200
catalog_poll_ms = 60000

[[bridges.expose]]
schema = "{schema}"
prefix = "com.pg"
"""


class Db:
    def __init__(self, schema: str, consumer: str):
        self.schema = schema
        self.consumer = consumer

    def topic(self, name: str) -> str:
        return f"com.pg.{self.schema}.{name}"


@pytest.fixture
def db():
    tag = secrets.token_hex(8)
    d = Db(f"e2e_{tag}", f"e2e_{tag}")
    psql(f"create schema {d.schema};\n" + SCHEMA_SQL.replace("{s}", d.schema), single_transaction=True)
    yield d
    psql(f"drop schema if exists {d.schema} cascade; delete from wamp.consumer where name = '{d.consumer}';")


async def wait_registered(client, uri: str, within_s: float = 10.0) -> float:
    started = time.monotonic()
    while await client.call("wamp.registration.lookup", uri) is None:
        assert time.monotonic() - started < within_s, f"{uri} not registered within {within_s}s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
async def gateway(tmp_path, db):
    """A gateway with the bridge on db's schema; yields a factory of joined clients."""
    config = DEFAULT_CONFIG + BRIDGE_CONFIG.format(dsn=DSN, pool_size=4, consumer=db.consumer, schema=db.schema)
    gw = start_gateway(tmp_path, config)
    clients = []

    async def client(serializer: str = "json"):
        c = await connect(gw.url, serializer)
        clients.append(c)
        return c

    first = await client()
    await wait_registered(first, "com.pg.whoami")
    yield client
    for c in clients:
        if not c.disconnected.done():
            await c.close()
    stop_gateway(gw)


@pytest.mark.parametrize("serializer", ["json", "msgpack", "cbor"])
async def test_arguments_types_and_result_shapes(gateway, serializer):
    c = await gateway(serializer)
    assert await within(c.call("com.pg.add", 1, 2)) == 3
    assert await within(c.call("com.pg.add", 1)) == 11
    assert await within(c.call("com.pg.add", b=5, a=1)) == 6
    assert await within(c.call("com.pg.nothing")) is None
    assert await within(c.call("com.pg.doc", 7)) == {"x": 7, "list": [1, "two", None]}
    assert await within(c.call("com.pg.pair")) == {"total": 2, "label": "two"}
    assert await within(c.call("com.pg.big", 3)) == [{"i": i, "label": f"row {i}"} for i in (1, 2, 3)]
    rows = await within(c.call(
        "com.pg.echo", t="héllo", n="12345678901234567890.5", b=True, jb={"k": [1, None]},
        tstz="2024-02-29T13:45:00+01:00", d="2024-02-29", u="123E4567-E89B-12D3-A456-426614174000",
        raw=b"\x00\x01\xff", arr=[[1, 2], [3, None]],
    ))
    assert rows == [{
        "o_t": "héllo", "o_n": "12345678901234567890.5", "o_b": True, "o_jb": {"k": [1, None]},
        "o_tstz": "2024-02-29T12:45:00Z", "o_d": "2024-02-29", "o_u": "123e4567-e89b-12d3-a456-426614174000",
        "o_raw": b"\x00\x01\xff", "o_arr": [[1, 2], [3, None]],
    }]


async def test_errors_invalid_arguments_and_injection(gateway, db):
    c = await gateway()
    with pytest.raises(ApplicationError) as err:
        await within(c.call("com.pg.get_employee", 7))
    assert (err.value.error, err.value.args) == ("com.pg.error.not_found", ("employee 7 not found",))
    for kwargs in ({"zz": 1, "a": 1}, {}, {"a": "x"}, {'a" => 1); drop table ' + db.schema + ".audit; --": 1}):
        with pytest.raises(ApplicationError) as err:
            await within(c.call("com.pg.add", **kwargs))
        assert err.value.error == "wamp.error.invalid_argument", kwargs
    evil = "x'); drop table " + db.schema + ".audit; --"
    assert await within(c.call("com.pg.echo", t=evil, n=None, b=None, jb=None, tstz=None, d=None, u=None, raw=None, arr=None)) == [
        {"o_t": evil, "o_n": None, "o_b": None, "o_jb": None, "o_tstz": None, "o_d": None, "o_u": None, "o_raw": None, "o_arr": None}
    ]
    assert psql(f"select count(*) from {db.schema}.audit") == "0"


async def test_progressive_results_stream_100k_rows(gateway):
    c = await gateway("msgpack")
    batches = []
    final = await within(
        c.call("com.pg.big", 100_000, options=CallOptions(on_progress=lambda rows: batches.append(len(rows)))),
        timeout=60,
    )
    assert len(batches) == 99 and set(batches) == {1000}
    assert len(final) == 1000 and final[-1] == {"i": 100_000, "label": "row 100000"}


async def test_two_hundred_concurrent_calls_over_a_pool_of_four(gateway):
    clients = [await gateway() for _ in range(4)]
    results = await within(
        asyncio.gather(*(clients[i % 4].call("com.pg.add", i, 1) for i in range(200))), timeout=30
    )
    assert results == [i + 1 for i in range(200)]


def running(db: Db) -> int:
    return int(psql(
        "select count(*) from pg_stat_activity where state = 'active' "
        f"and query like '%{db.schema}%sleepy%' and pid <> pg_backend_pid()"
    ))


async def eventually(check, within_s: float, what: str):
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within_s, what
        await asyncio.sleep(0.1)


async def test_cancel_and_timeout_reach_the_database(gateway, db):
    c = await gateway()
    call = asyncio.ensure_future(c.call("com.pg.sleepy", 30))
    await eventually(lambda: running(db) == 1, 5, "the statement runs")
    call.cancel()
    with pytest.raises((asyncio.CancelledError, ApplicationError)):
        await call
    await eventually(lambda: running(db) == 0, 5, "the canceled statement is gone")
    with pytest.raises(ApplicationError) as err:
        await within(c.call("com.pg.sleepy", 30, options=CallOptions(timeout=300)))
    assert err.value.error == "wamp.error.canceled"  # a router timeout is a cancel the router makes
    await eventually(lambda: running(db) == 0, 5, "the timed-out statement is gone")
    assert await within(c.call("com.pg.add", 1, 1)) == 2


async def test_caller_identity_is_visible_in_the_transaction(gateway):
    c = await gateway()
    who = await within(c.call("com.pg.whoami"))
    details = c.welcome
    assert who["session"] == str(c._session_id)
    assert who["authrole"] == "anonymous"
    assert who["authid"] == details.authid


async def test_events_on_commit_only_and_a_thousand_in_order(gateway, db):
    sub, caller = await gateway("cbor"), await gateway()
    topic = db.topic("hired")
    got = []
    await within(sub.subscribe(lambda *args: got.append(args), topic))
    assert await within(caller.call("com.pg.hire", "Ada", topic)) == 1
    with pytest.raises(ApplicationError):
        await within(caller.call("com.pg.hire_then_fail", "Bob", topic))
    psql(f"begin; select wamp.publish('{topic}', '[\"rolled back\"]'); rollback;")
    await eventually(lambda: len(got) >= 1, 5, "the committed event arrives")
    await asyncio.sleep(1.0)
    assert got == [("Ada",)]
    # 1000 events, each in its own transaction.
    psql("".join(f"select wamp.publish('{topic}', '[{i}]');\n" for i in range(1000)))
    await eventually(lambda: len(got) >= 1001, 30, "1000 events arrive")
    await asyncio.sleep(0.5)
    assert got[1:] == [(i,) for i in range(1000)]


async def test_killed_connections_lose_and_repeat_nothing(gateway, db):
    sub = await gateway()
    topic = db.topic("killed")
    got = []
    await within(sub.subscribe(lambda i: got.append(i), topic))
    writer = asyncio.get_running_loop().run_in_executor(
        None, psql, "".join(f"select wamp.publish('{topic}', '[{i}]');\n" for i in range(500))
    )
    for _ in range(5):
        await asyncio.sleep(0.2)
        await asyncio.get_running_loop().run_in_executor(
            None, psql,
            f"select pg_terminate_backend(pid) from pg_stat_activity where application_name like 'wamp-bridge:{db.consumer}:%'",
        )
    await writer
    await eventually(lambda: len(got) >= 500, 30, "all 500 events arrive")
    await asyncio.sleep(1.0)
    assert got == list(range(500))


async def test_a_function_created_while_running_is_registered_within_5s(gateway, db):
    c = await gateway()
    psql(f"create function {db.schema}.fresh(x int) returns int language sql immutable as 'select x * 2'")
    took = await wait_registered(c, "com.pg.fresh", within_s=5.0)
    assert took < 5.0
    assert await within(c.call("com.pg.fresh", 21)) == 42
    psql(f"drop function {db.schema}.fresh(int)")
    started = time.monotonic()
    while await c.call("wamp.registration.lookup", "com.pg.fresh") is not None:
        assert time.monotonic() - started < 5.0, "unregistered within 5 s"
        await asyncio.sleep(0.05)
