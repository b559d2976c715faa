"""Meta API with autobahn: session, registration and subscription procedures and events,
kill, and testaments."""

import asyncio

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions, RegisterOptions, SubscribeOptions

from wampclient import within


async def test_session_procedures(session):
    a, b = await session(), await session()
    assert await within(a.call("wamp.session.count")) == 2
    ids = await within(a.call("wamp.session.list"))
    assert {a._session_id, b._session_id} <= set(ids)
    info = await within(a.call("wamp.session.get", b._session_id))
    assert info["session"] == b._session_id
    assert info["authrole"] == "anonymous"
    with pytest.raises(ApplicationError) as err:
        await within(a.call("wamp.session.get", 1234567))
    assert err.value.error == "wamp.error.no_such_session"


async def test_session_join_and_leave_events(session):
    watcher = await session()
    joins, leaves = asyncio.Queue(), asyncio.Queue()
    await within(watcher.subscribe(lambda d: joins.put_nowait(d), "wamp.session.on_join"))
    await within(watcher.subscribe(lambda *a: leaves.put_nowait(a), "wamp.session.on_leave"))
    s = await session()
    joined = await within(joins.get())
    assert joined["session"] == s._session_id
    sid, authid = s._session_id, s._authid
    await s.close()
    left = await within(leaves.get())
    assert list(left) == [sid, authid, "anonymous"]


async def test_kill_sends_goodbye_with_reason(session):
    a, b = await session(), await session()
    await within(a.call("wamp.session.kill", b._session_id, reason="com.example.kicked", message="bye"))
    details = await within(b.left)
    assert details.reason == "com.example.kicked"
    assert details.message == "bye"
    with pytest.raises(ApplicationError) as err:
        await within(a.call("wamp.session.kill", a._session_id))
    assert err.value.error == "wamp.error.no_such_session"


async def test_kill_by_authrole(session):
    a, b, c = await session(), await session(), await session()
    count = await within(a.call("wamp.session.kill_by_authrole", "anonymous"))
    assert count == 2
    for s in (b, c):
        assert (await within(s.left)).reason == "wamp.close.killed"
    assert a.is_attached()


async def test_registration_meta(session):
    watcher, callee = await session(), await session()
    created = asyncio.Queue()
    await within(watcher.subscribe(lambda sid, d: created.put_nowait((sid, d)), "wamp.registration.on_create"))
    reg = await within(callee.register(lambda: None, "com.example.p"))
    preg = await within(callee.register(lambda: None, "com.example", RegisterOptions(match="prefix")))
    sid, d = await within(created.get())
    assert sid == callee._session_id and d["uri"] == "com.example.p" and d["match"] == "exact"
    listing = await within(watcher.call("wamp.registration.list"))
    assert reg.id in listing["exact"] and preg.id in listing["prefix"] and listing["wildcard"] == []
    assert await within(watcher.call("wamp.registration.lookup", "com.example.p")) == reg.id
    assert await within(watcher.call("wamp.registration.lookup", "com.example", {"match": "prefix"})) == preg.id
    assert await within(watcher.call("wamp.registration.match", "com.example.zzz")) == preg.id
    got = await within(watcher.call("wamp.registration.get", reg.id))
    assert got["uri"] == "com.example.p" and got["invoke"] == "single"
    assert await within(watcher.call("wamp.registration.list_callees", reg.id)) == [callee._session_id]
    assert await within(watcher.call("wamp.registration.count_callees", reg.id)) == 1
    with pytest.raises(ApplicationError) as err:
        await within(watcher.call("wamp.registration.get", 99999999))
    assert err.value.error == "wamp.error.no_such_registration"


async def test_subscription_meta(session):
    watcher, s = await session(), await session()
    subscribed = asyncio.Queue()
    await within(watcher.subscribe(lambda sid, subid: subscribed.put_nowait((sid, subid)), "wamp.subscription.on_subscribe"))
    sub = await within(s.subscribe(lambda *a: None, "com.example.t"))
    while True:  # the watcher first hears of its own subscription to on_subscribe
        sid, subid = await within(subscribed.get())
        if sid == s._session_id:
            break
    assert subid == sub.id
    listing = await within(watcher.call("wamp.subscription.list"))
    assert sub.id in listing["exact"]
    assert await within(watcher.call("wamp.subscription.lookup", "com.example.t")) == sub.id
    assert await within(watcher.call("wamp.subscription.match", "com.example.t")) == [sub.id]
    assert await within(watcher.call("wamp.subscription.list_subscribers", sub.id)) == [s._session_id]
    assert await within(watcher.call("wamp.subscription.count_subscribers", sub.id)) == 1
    got = await within(watcher.call("wamp.subscription.get", sub.id))
    assert got["uri"] == "com.example.t" and got["match"] == "exact"


async def test_testament_on_abnormal_departure(session):
    watcher, s = await session(), await session()
    events = asyncio.Queue()
    await within(watcher.subscribe(lambda *a, **kw: events.put_nowait((a, kw)), "com.example.gone"))
    await within(s.call("wamp.session.add_testament", "com.example.gone", ["bye"], {"who": "s"}))
    s.drop()  # TCP abort: no GOODBYE
    args, kwargs = await within(events.get())
    assert args == ("bye",) and kwargs == {"who": "s"}


async def test_flushed_testament_is_not_published(session):
    watcher, s = await session(), await session()
    events = asyncio.Queue()
    await within(watcher.subscribe(lambda *a, **kw: events.put_nowait(a), "com.example.gone"))
    await within(s.call("wamp.session.add_testament", "com.example.gone", ["bye"], {}))
    assert await within(s.call("wamp.session.flush_testaments")) == 1
    await s.close()
    await asyncio.sleep(0.3)
    assert events.empty()


async def test_remove_callee_and_remove_subscriber(session):
    """Crossbar's revocation procedures: the router takes a callee off a registration (a
    subscriber off a subscription) and tells it with a router-initiated UNREGISTERED
    (UNSUBSCRIBED); the client stays joined and can register again."""
    admin, callee, subscriber = await session(), await session(), await session()
    reg = await within(callee.register(lambda: "here", "com.example.revocable"))
    assert await within(admin.call("com.example.revocable")) == "here"
    await within(admin.call("wamp.registration.remove_callee", reg.id, callee._session_id, "com.example.maintenance"))
    assert await within(admin.call("wamp.registration.lookup", "com.example.revocable")) is None
    with pytest.raises(ApplicationError) as err:
        await within(admin.call("com.example.revocable"))
    assert err.value.error == "wamp.error.no_such_procedure"
    with pytest.raises(ApplicationError) as err:
        await within(admin.call("wamp.registration.remove_callee", reg.id, callee._session_id))
    assert err.value.error == "wamp.error.no_such_registration"
    # The callee is still joined and may register again.
    await within(callee.register(lambda: "back", "com.example.revocable.again"))
    assert await within(admin.call("com.example.revocable.again")) == "back"

    got = asyncio.Queue()
    sub = await within(subscriber.subscribe(lambda x: got.put_nowait(x), "com.example.news"))
    await within(admin.publish("com.example.news", 1, options=PublishOptions(acknowledge=True)))
    assert await within(got.get()) == 1
    with pytest.raises(ApplicationError) as err:
        await within(admin.call("wamp.subscription.remove_subscriber", sub.id, admin._session_id))
    assert err.value.error == "wamp.error.no_such_session", "only a subscriber can be removed"
    await within(admin.call("wamp.subscription.remove_subscriber", sub.id, subscriber._session_id))
    assert await within(admin.call("wamp.subscription.lookup", "com.example.news")) is None
    await within(admin.publish("com.example.news", 2, options=PublishOptions(acknowledge=True)))
    await asyncio.sleep(0.2)
    assert got.empty(), "no event after the removal"
    assert await within(subscriber.call("wamp.session.get", subscriber._session_id)), "still joined"
