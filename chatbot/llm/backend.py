"""Where router state lives: Redis (shared by every process) when REDIS_URL is set, this
process's memory otherwise.

Memory state is tied to the process's `shared_state()` object, so resetting that (tests that
switch backends) starts router state afresh too."""

import asyncio
import hashlib
import weakref
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import NoScriptError

from chatbot.shared_state import shared_state

# A connection belongs to the loop that made it; keyed weakly so a closed loop's clients go too.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, aioredis.Redis]] = (
    weakref.WeakKeyDictionary()
)
_memory: weakref.WeakKeyDictionary[object, dict[str, Any]] = weakref.WeakKeyDictionary()
_sha: dict[str, str] = {}


def redis_client() -> aioredis.Redis | None:
    if not settings.REDIS_URL:
        return None
    clients = _clients.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(settings.REDIS_URL)
    if client is None:
        client = clients[settings.REDIS_URL] = aioredis.Redis.from_url(
            settings.REDIS_URL, decode_responses=True
        )
    return client


def memory(namespace: str) -> dict[str, Any]:
    """A dict for `namespace` that lives as long as this process's shared state."""
    spaces = _memory.setdefault(shared_state(), {})
    return spaces.setdefault(namespace, {})


def key(*parts: str) -> str:
    return ":".join((settings.ROUTER_STATE_PREFIX, *parts))


async def run_script(client: aioredis.Redis, source: str, keys: list[str], args: list[Any]) -> Any:
    """EVALSHA, loading the script on first use on that server."""
    sha = _sha.get(source)
    if sha is None:
        sha = _sha[source] = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
    try:
        return await client.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:
        await client.script_load(source)
        return await client.evalsha(sha, len(keys), *keys, *args)
