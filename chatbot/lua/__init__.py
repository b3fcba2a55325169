"""The Lua scripts run on Redis, one `.lua` file each (read once per process)."""

from functools import cache
from importlib.resources import files


@cache
def script(*names: str) -> str:
    """The named scripts' source, joined in order (a script may start with a shared prelude)."""
    return "\n".join(files(__package__).joinpath(f"{name}.lua").read_text() for name in names)
