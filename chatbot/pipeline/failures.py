"""What kind of failure made a stage pass, for the trace and the metric: a stage that raises is
skipped and the next one answers (docs/architecture.md, "some stage always answers")."""

import sqlite3
from enum import StrEnum

from django.db import Error as DatabaseError
from redis.exceptions import RedisError


class FailureKind(StrEnum):
    DATABASE = "database"
    REDIS = "redis"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    INTERNAL = "internal"  # a bug or anything unexpected


def failure_kind(exc: BaseException) -> FailureKind:
    if isinstance(exc, DatabaseError | sqlite3.Error):
        return FailureKind.DATABASE
    if isinstance(exc, RedisError):  # statestore.policy.RedisUnavailable among them
        return FailureKind.REDIS
    if isinstance(exc, TimeoutError):
        return FailureKind.TIMEOUT
    if isinstance(exc, OSError):
        return FailureKind.CONNECTION
    return FailureKind.INTERNAL
