"""Many concurrent sessions on one router."""

import asyncio

from wampclient import within

SESSIONS = 200


async def test_concurrent_sessions_join_call_leave(session):
    callee = await session()
    await within(callee.register(lambda a, b: a + b, "com.example.add"))

    clients = await within(
        asyncio.gather(*(session(timeout=30) for _ in range(SESSIONS))), 60
    )
    ids = {c.session_id for c in clients}
    assert len(ids) == SESSIONS and callee.session_id not in ids

    results = await within(
        asyncio.gather(*(c.call("com.example.add", i, 1) for i, c in enumerate(clients))), 60
    )
    assert results == [i + 1 for i in range(SESSIONS)]

    await within(asyncio.gather(*(c.close(timeout=30) for c in clients)), 60)
    assert all(c.disconnected.done() for c in clients)

    fresh = await session()
    assert await within(fresh.call("com.example.add", 2, 3)) == 5
