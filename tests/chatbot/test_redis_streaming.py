"""The streaming flow once more with Redis at 127.0.0.1:6379 as channel layer, cache and shared
state, the way production runs it."""

import uuid

import pytest
import redis

from chatbot.shared_state import RedisState, reset_shared_state, shared_state
from tests.conftest import chat_socket

REDIS_URL = "redis://127.0.0.1:6379/0"

pytestmark = [
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("settle"),
]


# Production's layer (pub/sub) and channels-redis' list layer, which CHANNEL_LAYER_BACKEND
# still selects.
LAYERS = ["channels_redis.pubsub.RedisPubSubChannelLayer", "channels_redis.core.RedisChannelLayer"]


@pytest.fixture(params=LAYERS, ids=["pubsub", "lists"])
def on_redis(settings, request):
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    settings.REDIS_URL = REDIS_URL
    settings.SHARED_STATE_PREFIX = f"{prefix}:state"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": request.param,
            "CONFIG": {"hosts": [REDIS_URL], "prefix": prefix},
        }
    }
    reset_shared_state()
    yield client
    reset_shared_state()
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


async def test_answer_streams_through_the_redis_channel_layer(on_redis, upstream, settings):
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    layer_path = f"{type(layer).__module__}.{type(layer).__name__}"
    assert layer_path == settings.CHANNEL_LAYERS["default"]["BACKEND"]
    assert isinstance(shared_state(), RedisState)
    async with chat_socket() as client:
        frames = await client.say("Do you have gift cards?", "r1")
        conversation, token = client.hello["conversation"], client.hello["token"]
    types = [f["type"] for f in frames]
    assert types[0] == "ack" and types[-1] == "done" and types.count("token") >= 2
    assert (
        "".join(f["text"] for f in frames if f["type"] == "token") == frames[-1]["message"]["text"]
    )
    # A second socket on the same conversation (another tab, or another daphne process)
    # sees the same stored history.
    async with chat_socket(f"?conversation={conversation}&token={token}") as other:
        await other.send({"type": "resume", "after": 0})
        replay = await other.recv_until("resumed")
    assert [f["message"]["role"] for f in replay if f["type"] == "message"] == ["visitor", "bot"]


async def test_answer_claim_is_shared_in_redis(on_redis):
    state = shared_state()
    assert await state.claim("answering:42", 5)
    assert not await state.claim("answering:42", 5), "a second worker may not answer it too"
    await state.append("partial:42", "Hello ", 5)
    await state.append("partial:42", "there", 5)
    assert await state.read("partial:42") == "Hello there"
    await state.release("answering:42")
    assert await state.claim("answering:42", 5)
