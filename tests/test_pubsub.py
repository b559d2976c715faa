"""Broker: PUBLISH/SUBSCRIBE/UNSUBSCRIBE between independent sessions.

"Nothing arrived" is checked deterministically with a marker: a router sends
one session's events in the order it processed the publishes, so once the
marker published *after* the event in question has arrived, that event would
have arrived before it.
"""

import asyncio

import pytest
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions, SubscribeOptions

from wampclient import MAX_ID, raw_unsubscribe, within

ACK = PublishOptions(acknowledge=True)


async def subscribe_queue(client, topic, details=False):
    """Subscribe and return (subscription, queue of (args, kwargs[, details]))."""
    q: asyncio.Queue = asyncio.Queue()
    if details:

        def handler(*args, details=None, **kwargs):
            q.put_nowait((list(args), kwargs, details))

        sub = await within(
            client.subscribe(handler, topic, options=SubscribeOptions(details_arg="details"))
        )
    else:
        sub = await within(client.subscribe(lambda *a, **kw: q.put_nowait((list(a), kw)), topic))
    return sub, q


async def test_publish_acknowledged_event_delivered(session):
    publisher, subscriber = await session(), await session()
    sub, events = await subscribe_queue(subscriber, "com.example.topic", details=True)
    assert 1 <= sub.id <= MAX_ID

    pub = await within(publisher.publish("com.example.topic", 1, "two", key={"v": [3]}, options=ACK))

    assert 1 <= pub.id <= MAX_ID
    args, kwargs, details = await within(events.get())
    assert args == [1, "two"]
    assert kwargs == {"key": {"v": [3]}}
    assert details.publication == pub.id
    assert details.topic == "com.example.topic"


async def test_publisher_disclosed_when_role_permits(session):
    # The test realm's role has disclose_publisher = true.
    publisher, subscriber = await session(), await session()
    _, events = await subscribe_queue(subscriber, "com.example.disclose", details=True)
    await within(publisher.publish("com.example.disclose", options=ACK))
    _, _, details = await within(events.get())
    assert details.publisher == publisher.session_id


async def test_publisher_does_not_receive_own_event(session):
    publisher, other = await session(), await session()
    _, own = await subscribe_queue(publisher, "com.example.self")
    _, marker = await subscribe_queue(publisher, "com.example.self.marker")
    _, others = await subscribe_queue(other, "com.example.self")

    await within(publisher.publish("com.example.self", "hello", options=ACK))
    await within(
        publisher.publish(
            "com.example.self.marker", options=PublishOptions(acknowledge=True, exclude_me=False)
        )
    )

    await within(marker.get())
    assert (await within(others.get())) == (["hello"], {})
    assert own.empty(), f"publisher got its own event: {own.get_nowait()}"


async def test_unsubscribe_stops_events(session):
    publisher, subscriber = await session(), await session()
    sub, events = await subscribe_queue(subscriber, "com.example.unsub")
    _, marker = await subscribe_queue(subscriber, "com.example.unsub.marker")

    await within(publisher.publish("com.example.unsub", 1, options=ACK))
    assert (await within(events.get())) == ([1], {})

    await within(sub.unsubscribe())
    await within(publisher.publish("com.example.unsub", 2, options=ACK))
    await within(publisher.publish("com.example.unsub.marker", options=ACK))

    await within(marker.get())
    assert events.empty(), f"event after unsubscribe: {events.get_nowait()}"


async def test_unsubscribe_unknown_subscription(session):
    client = await session()
    with pytest.raises(ApplicationError) as err:
        await raw_unsubscribe(client, MAX_ID - 11)
    assert err.value.error == "wamp.error.no_such_subscription"
    assert client.is_attached()


async def test_unsubscribe_subscription_of_other_session(session):
    owner, other = await session(), await session()
    sub, events = await subscribe_queue(owner, "com.example.owned")

    with pytest.raises(ApplicationError) as err:
        await raw_unsubscribe(other, sub.id)
    assert err.value.error == "wamp.error.no_such_subscription"

    await within(other.publish("com.example.owned", "still", options=ACK))
    assert (await within(events.get())) == (["still"], {})


async def test_thousand_events_arrive_in_order(session):
    publisher, subscriber = await session(), await session()
    _, events = await subscribe_queue(subscriber, "com.example.seq")
    count = 1000

    for i in range(count):
        publisher.publish("com.example.seq", i, index=i)
    await within(publisher.publish("com.example.seq", count, index=count, options=ACK), 20)

    received = []
    while len(received) <= count:
        args, kwargs = await within(events.get(), 20)
        assert args == [kwargs["index"]]
        received.append(kwargs["index"])
    assert received == list(range(count + 1))
