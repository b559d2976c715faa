"""Broker advanced profile with autobahn: pattern subscriptions, publisher exclusion and
identification, black/white listing, event retention."""

import asyncio

import pytest
from autobahn.wamp.types import EventDetails, PublishOptions, SubscribeOptions

from wampclient import within

ACK = PublishOptions(acknowledge=True)


class Inbox:
    """Collects events; `await inbox.next()` returns (args, kwargs, details)."""

    def __init__(self):
        self.queue = asyncio.Queue()

    def __call__(self, *args, details: EventDetails = None, **kwargs):
        self.queue.put_nowait((args, kwargs, details))

    async def next(self, timeout=5.0):
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def assert_empty(self, wait=0.3):
        await asyncio.sleep(wait)
        assert self.queue.empty(), f"unexpected events: {self.queue.qsize()}"


async def sub(session_, topic, match=None, **kw):
    inbox = Inbox()
    await within(session_.subscribe(inbox, topic, SubscribeOptions(match=match, details_arg="details", **kw)))
    return inbox


async def test_pattern_subscriptions_each_deliver_with_topic(session):
    s, pub = await session(), await session()
    exact = await sub(s, "com.example.a.b")
    prefix = await sub(s, "com.example", match="prefix")
    wild = await sub(s, "com...b", match="wildcard")
    await within(pub.publish("com.example.a.b", 1, options=ACK))
    (_, _, d_exact), (_, _, d_prefix), (_, _, d_wild) = [await i.next() for i in (exact, prefix, wild)]
    assert d_exact.topic == "com.example.a.b"  # autobahn fills it in for exact subscriptions
    assert d_prefix.topic == "com.example.a.b"
    assert d_wild.topic == "com.example.a.b"
    for i in (exact, prefix, wild):
        await i.assert_empty(0.1)


async def test_publisher_exclusion(session):
    s = await session()
    inbox = await sub(s, "com.example.self")
    await within(s.publish("com.example.self", "excluded", options=ACK))
    await inbox.assert_empty()
    await within(s.publish("com.example.self", "included", options=PublishOptions(acknowledge=True, exclude_me=False)))
    args, _, _ = await inbox.next()
    assert args == ("included",)


async def test_publisher_identification(session):
    s, pub = await session(), await session()
    inbox = await sub(s, "com.example.who")
    await within(pub.publish("com.example.who", options=ACK))
    _, _, d = await inbox.next()
    assert d.publisher == pub._session_id
    assert d.publisher_authrole == "anonymous"


async def test_black_and_white_listing(session):
    a, b, pub = await session(), await session(), await session()
    ia, ib = await sub(a, "com.example.bw"), await sub(b, "com.example.bw")
    cases = [
        (PublishOptions(acknowledge=True, exclude=[a._session_id]), False, True),
        (PublishOptions(acknowledge=True, eligible=[a._session_id]), True, False),
        (PublishOptions(acknowledge=True, exclude_authid=[b._authid]), True, False),
        (PublishOptions(acknowledge=True, eligible_authid=[b._authid]), False, True),
        (PublishOptions(acknowledge=True, exclude_authrole=["anonymous"]), False, False),
        (PublishOptions(acknowledge=True, eligible_authrole=["anonymous"]), True, True),
    ]
    for options, to_a, to_b in cases:
        await within(pub.publish("com.example.bw", options=options))
        await asyncio.sleep(0.15)
        assert (not ia.queue.empty(), not ib.queue.empty()) == (to_a, to_b), options
        for i in (ia, ib):
            while not i.queue.empty():
                i.queue.get_nowait()


async def test_event_retention(session):
    pub, early = await session(), await session()
    none = await sub(early, "com.example.state", get_retained=True)
    await none.assert_empty()  # nothing retained yet
    await within(pub.publish("com.example.state", 1, options=PublishOptions(acknowledge=True, retain=True)))
    await within(pub.publish("com.example.state", 2, options=PublishOptions(acknowledge=True, retain=True)))
    late = await session()
    inbox = await sub(late, "com.example.state", get_retained=True)
    args, _, d = await inbox.next()
    assert args == (2,)
    assert d.retained is True
    await inbox.assert_empty()
    plain = await sub(await session(), "com.example.state")
    await plain.assert_empty()
