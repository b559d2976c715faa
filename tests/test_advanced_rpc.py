"""Dealer advanced profile with autobahn: progressive results, canceling, router-enforced
timeouts, caller identification, shared and pattern-based registrations."""

import asyncio

import pytest
import txaio
from autobahn.wamp import message
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.request import CallRequest
from autobahn.wamp.types import CallDetails, CallOptions, RegisterOptions

from wampclient import _send, within


def features(session, role):
    return session.welcome.roles[role].features if hasattr(session.welcome, "roles") else None


async def test_welcome_announces_advanced_features(session):
    s = await session()
    roles = s.welcome.roles
    dealer, broker = roles["dealer"], roles["broker"]
    for f in ["progressive_call_results", "call_canceling", "call_timeout", "caller_identification",
              "shared_registration", "pattern_based_registration", "registration_meta_api",
              "session_meta_api", "testament_meta_api"]:
        assert getattr(dealer, f), f
    for f in ["pattern_based_subscription", "publisher_exclusion", "publisher_identification",
              "subscriber_blackwhite_listing", "event_retention", "subscription_meta_api"]:
        assert getattr(broker, f), f


async def test_progressive_results_in_order(session):
    callee, caller = await session(), await session()

    async def stream(n, details: CallDetails):
        assert details.progress is not None, "caller asked for progress"
        for i in range(n):
            details.progress(i, square=i * i)
        return "done"

    await within(callee.register(stream, "com.example.stream", RegisterOptions(details_arg="details")))
    got = []
    res = await within(caller.call("com.example.stream", 5, options=CallOptions(on_progress=lambda *a, **kw: got.append((a, kw)))))
    assert res == "done"
    assert got == [((i,), {"square": i * i}) for i in range(5)]


async def test_progress_is_dropped_for_a_caller_that_did_not_ask(session):
    callee, caller = await session(), await session()

    async def stream(details: CallDetails):
        assert details.progress is None, "no receive_progress without on_progress"
        return "final"

    await within(callee.register(stream, "com.example.noprogress", RegisterOptions(details_arg="details")))
    assert await within(caller.call("com.example.noprogress")) == "final"


async def _slow_callee(session, uri, interrupted: asyncio.Event, ignore_interrupt=False):
    callee = await session()
    started = asyncio.Event()

    async def slow():
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            interrupted.set()
            if not ignore_interrupt:
                raise
            await asyncio.sleep(0.3)
            return "late answer"
        return "finished"

    await within(callee.register(slow, uri))
    return callee, started


def _raw_call(caller, procedure, **options):
    rid = caller._request_id_gen.next()
    req = CallRequest(rid, procedure, txaio.create_future(), None)
    fut = _send(caller, caller._call_reqs, req, message.Call(rid, procedure, **options))
    return rid, fut


async def test_cancel_killnowait_interrupts_the_callee(session):
    interrupted = asyncio.Event()
    _callee, started = await _slow_callee(session, "com.example.slow", interrupted)
    caller = await session()
    call = asyncio.ensure_future(caller.call("com.example.slow"))
    await within(started.wait())
    call.cancel()  # autobahn sends CANCEL (default mode: killnowait)
    with pytest.raises((asyncio.CancelledError, ApplicationError)):
        await within(call)
    await within(interrupted.wait())


@pytest.mark.parametrize("mode", ["skip", "kill", "killnowait"])
async def test_cancel_modes(session, mode):
    interrupted = asyncio.Event()
    _callee, started = await _slow_callee(session, "com.example.slow", interrupted)
    caller = await session()
    rid, fut = _raw_call(caller, "com.example.slow")
    await within(started.wait())
    caller._transport.send(message.Cancel(rid, mode=mode))
    with pytest.raises(ApplicationError) as err:
        await within(fut)
    if mode == "kill":
        # kill: the caller gets the callee's own answer to the INTERRUPT (autobahn's callee turns
        # the cancelled handler into an ERROR of its choosing).
        assert err.value.error.startswith("wamp.error.")
    else:
        assert err.value.error == "wamp.error.canceled"
    if mode == "skip":
        await asyncio.sleep(0.3)
        assert not interrupted.is_set(), "skip sends no INTERRUPT"
    else:
        await within(interrupted.wait())


async def test_cancel_of_unknown_request_is_ignored(session):
    caller = await session()
    caller._transport.send(message.Cancel(987654))
    await asyncio.sleep(0.2)
    assert caller.is_attached()
    with pytest.raises(ApplicationError) as err:
        await within(caller.call("com.example.nothing"))
    assert err.value.error == "wamp.error.no_such_procedure"


@pytest.mark.parametrize("ignore_interrupt", [False, True])
async def test_router_enforces_call_timeout(session, ignore_interrupt):
    interrupted = asyncio.Event()
    _callee, _started = await _slow_callee(session, "com.example.hang", interrupted, ignore_interrupt)
    caller = await session()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(ApplicationError) as err:
        await within(caller.call("com.example.hang", options=CallOptions(timeout=300)))
    elapsed = loop.time() - t0
    assert err.value.error == "wamp.error.canceled"
    assert 0.25 <= elapsed < 3, elapsed
    await within(interrupted.wait())
    # A callee that ignored the INTERRUPT answers late; the answer must not reach anyone.
    await asyncio.sleep(0.5)
    assert caller.is_attached()


async def test_caller_identification(session):
    callee, caller = await session(), await session()
    seen = []

    def who(details: CallDetails):
        seen.append(details)
        return True

    await within(callee.register(who, "com.example.who", RegisterOptions(details_arg="details")))
    await within(caller.call("com.example.who"))
    (d,) = seen
    assert d.caller == caller._session_id
    assert d.caller_authrole == "anonymous"
    assert d.caller_authid == caller._authid


async def test_shared_registration_roundrobin_and_policy_mismatch(session):
    a, b, other, caller = await session(), await session(), await session(), await session()
    await within(a.register(lambda: "a", "com.example.rr", RegisterOptions(invoke="roundrobin")))
    await within(b.register(lambda: "b", "com.example.rr", RegisterOptions(invoke="roundrobin")))
    got = [await within(caller.call("com.example.rr")) for _ in range(4)]
    assert got == ["a", "b", "a", "b"]
    with pytest.raises(ApplicationError) as err:
        await within(other.register(lambda: "x", "com.example.rr", RegisterOptions(invoke="random")))
    assert err.value.error == "wamp.error.procedure_exists_with_different_invocation_policy"
    with pytest.raises(ApplicationError) as err:
        await within(other.register(lambda: "x", "com.example.rr"))
    assert err.value.error == "wamp.error.procedure_exists_with_different_invocation_policy"


@pytest.mark.parametrize("policy,expected", [("first", "a"), ("last", "b")])
async def test_shared_registration_first_last(session, policy, expected):
    a, b, caller = await session(), await session(), await session()
    await within(a.register(lambda: "a", "com.example.fl", RegisterOptions(invoke=policy)))
    await within(b.register(lambda: "b", "com.example.fl", RegisterOptions(invoke=policy)))
    for _ in range(3):
        assert await within(caller.call("com.example.fl")) == expected


async def test_shared_registration_random_uses_every_callee(session):
    a, b, caller = await session(), await session(), await session()
    await within(a.register(lambda: "a", "com.example.rnd", RegisterOptions(invoke="random")))
    await within(b.register(lambda: "b", "com.example.rnd", RegisterOptions(invoke="random")))
    got = {await within(caller.call("com.example.rnd")) for _ in range(40)}
    assert got == {"a", "b"}


async def test_pattern_registrations_precedence_and_procedure_detail(session):
    exact, prefix, wildcard, caller = await session(), await session(), await session(), await session()
    opts = RegisterOptions(details_arg="details")
    await within(exact.register(lambda details: ("exact", details.procedure), "com.example.a.get", opts))
    await within(prefix.register(lambda details: ("prefix", details.procedure), "com.example.a",
                                 RegisterOptions(match="prefix", details_arg="details")))
    await within(wildcard.register(lambda details: ("wildcard", details.procedure), "com.example..get",
                                   RegisterOptions(match="wildcard", details_arg="details")))
    # autobahn fills details.procedure itself for exact registrations; the router adds it only for
    # pattern matches (checked at the message level in wamp/tests/router_advanced.rs).
    assert await within(caller.call("com.example.a.get")) == ["exact", "com.example.a.get"]
    assert await within(caller.call("com.example.a.put")) == ["prefix", "com.example.a.put"]
    assert await within(caller.call("com.example.b.get")) == ["wildcard", "com.example.b.get"]
    with pytest.raises(ApplicationError) as err:
        await within(caller.call("com.example.b.put"))
    assert err.value.error == "wamp.error.no_such_procedure"
