"""The channel layer sharded over several Redis servers (`CHANNEL_LAYER_REDIS_URLS`,
docs/scaling.md): the setting reaches channels-redis, which spreads groups over every server and
still delivers each frame to the group's sockets. The layer is production's: Redis pub/sub."""

import json
import uuid

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer

from tests.servers import RedisServer, manage, server_env

pytestmark = pytest.mark.redis

PRINT_HOSTS = (
    "import json; from django.conf import settings; "
    "print(json.dumps(settings.CHANNEL_LAYERS['default']['CONFIG']['hosts']))"
)


@pytest.fixture
def two_redis():
    servers = [RedisServer().start(), RedisServer().start()]
    yield servers
    for server in servers:
        server.stop()


def test_the_setting_lists_every_shard_and_defaults_to_redis_url(tmp_path, two_redis):
    urls = [server.url for server in two_redis]
    env = server_env(tmp_path / "db.sqlite3", REDIS_URL=urls[0])
    assert json.loads(manage(env, "shell", "-c", PRINT_HOSTS).strip().splitlines()[-1]) == [urls[0]]
    env["CHANNEL_LAYER_REDIS_URLS"] = ",".join(urls)
    assert json.loads(manage(env, "shell", "-c", PRINT_HOSTS).strip().splitlines()[-1]) == urls


async def test_groups_spread_over_the_shards_and_every_frame_arrives(two_redis):
    prefix = f"shards-{uuid.uuid4().hex[:6]}"
    layer = RedisPubSubChannelLayer(hosts=[server.url for server in two_redis], prefix=prefix)
    channels = {}
    for index in range(20):
        channels[index] = await layer.new_channel()
        await layer.group_add(f"chat.g{index}", channels[index])
    for index in range(20):
        await layer.group_send(f"chat.g{index}", {"type": "chat.frame", "n": index})
    for index in range(20):
        assert (await layer.receive(channels[index]))["n"] == index
    holding = [len(server.client().pubsub_channels(f"{prefix}__group__*")) for server in two_redis]
    assert all(holding) and sum(holding) == 20, holding
    await layer.flush()
