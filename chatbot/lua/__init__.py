"""The Lua scripts run on Redis, one `.lua` file each (read once per process), run through
redis-py's `register_script`."""

from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript


@cache
def script(*names: str) -> str:
    """The named scripts' source, joined in order (a script may start with a shared prelude)."""
    return "\n".join(files(__package__).joinpath(f"{name}.lua").read_text() for name in names)


class Script:
    """The named scripts as one, registered with the first client that runs it. redis-py's
    script object runs on whichever client it is handed (EVALSHA, loading the script on a
    server that answers NOSCRIPT), so one serves the router's, the claims' and any other
    Redis alike."""

    def __init__(self, *names: str) -> None:
        self.source = script(*names)
        self._registered: AsyncScript | None = None

    async def __call__(
        self, client: aioredis.Redis, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        if self._registered is None:
            self._registered = client.register_script(self.source)
        return await self._registered(keys=keys, args=args, client=client)
