"""What kind of failure an upstream call ended in, stored in traces and answer facts: a module
of its own so that the models (through answer facts) read it without importing the openai SDK."""

from enum import StrEnum


class Kind(StrEnum):
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    FATAL = "fatal"
    FIRST_TOKEN_TIMEOUT = "first_token_timeout"  # noqa: S105 - not a secret
    OWN_LIMIT = "own_rate_limit"
    KEYS_UNAVAILABLE = "keys_unavailable"
    EMPTY = "empty_answer"
    BREAKER_OPEN = "breaker_open"
    THROTTLED = "throttled"
    UNREACHABLE = "unreachable"  # connection refused: nothing listens (a local server down)
