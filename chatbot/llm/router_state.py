"""Where router state lives: Redis (shared by every process) when REDIS_URL is set, this
process's memory otherwise.

Router state fails open (docs/llm.md, "When Redis does not answer"): breakers, buckets, spend
and the queued-questions flag keep the product answering, so when Redis refuses or times out
they run on this process's memory with the same rules, and go back to Redis once it answers.
Memory state is statestore's, so resetting shared state (tests that switch backends) starts
router state afresh too."""

import hashlib
from typing import Any, TypeVar

import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import NoScriptError

from statestore import policy

T = TypeVar("T")

_sha: dict[str, str] = {}


def memory(namespace: str) -> dict[str, Any]:
    """A dict for `namespace` that lives as long as this process's shared state (statestore's
    memory: emptied with the rest by reset_shared_state)."""
    return policy.memory(f"router:{namespace}")


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
