"""Where router state lives: Redis (shared by every process) when REDIS_URL is set, this
process's memory otherwise.

Router state fails open (docs/llm.md, "When Redis does not answer"): breakers, buckets, spend
and the queued-questions flag keep the product answering, so when Redis refuses or times out
they run on this process's memory with the same rules, and go back to Redis once it answers.
Memory state is statestore's, so resetting shared state (tests that switch backends) starts
router state afresh too."""

from typing import Any

from django.conf import settings

from statestore import policy


def memory(namespace: str) -> dict[str, Any]:
    """A dict for `namespace` that lives as long as this process's shared state (statestore's
    memory: emptied with the rest by reset_shared_state)."""
    return policy.memory(f"router:{namespace}")


def key(*parts: str) -> str:
    return ":".join((settings.ROUTER_STATE_PREFIX, *parts))
