"""Invalid URIs are answered with ERROR wamp.error.invalid_uri; the session stays open.

autobahn refuses to send such URIs, so these go through `wampclient.raw_*`.
"""

import pytest
from autobahn.wamp.exception import ApplicationError

from wampclient import raw_call, raw_publish, raw_register, raw_subscribe, within

BAD_URIS = {"empty_component": "com..bad", "space": "com.example.has space"}

OPERATIONS = {
    "call": raw_call,
    "register": raw_register,
    "subscribe": raw_subscribe,
    "publish": raw_publish,
}


@pytest.mark.parametrize("uri", list(BAD_URIS.values()), ids=list(BAD_URIS))
@pytest.mark.parametrize("op", list(OPERATIONS))
async def test_invalid_uri_is_an_error_not_a_disconnect(session, op, uri):
    client = await session()

    with pytest.raises(ApplicationError) as err:
        await OPERATIONS[op](client, uri)
    assert err.value.error == "wamp.error.invalid_uri"

    # Same session, still usable.
    assert client.is_attached()
    await within(client.register(lambda: "fine", "com.example.after.invalid"))
    assert await within(client.call("com.example.after.invalid")) == "fine"
