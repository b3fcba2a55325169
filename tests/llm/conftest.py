import uuid
from collections.abc import Iterator

import pytest
import redis

REDIS_URL = "redis://127.0.0.1:6379/0"


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def on_redis(settings) -> Iterator[redis.Redis]:
    """Router state in the real Redis, under a prefix of this test's own."""
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    client.ping()
    prefix = f"test-router-{uuid.uuid4().hex[:8]}"
    settings.REDIS_URL = REDIS_URL
    settings.ROUTER_STATE_PREFIX = prefix
    settings.SHARED_STATE_PREFIX = f"{prefix}:state"
    yield client
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


@pytest.fixture(params=["memory", "redis"])
def backend(request, settings) -> str:
    """Runs a test against both stores: the rules must be the same."""
    if request.param == "redis":
        request.getfixturevalue("on_redis")
    else:
        settings.REDIS_URL = ""
    return request.param


@pytest.fixture(scope="session")
def _tier_simulators():
    from chatbot.llm.simulator import UpstreamSimulator

    sims = {name: UpstreamSimulator(model=f"{name}-model").start() for name in TIER_NAMES}
    yield sims
    for sim in sims.values():
        sim.stop()


TIER_NAMES = ("strong", "cheap", "local")


@pytest.fixture
def sims(_tier_simulators):
    """One real upstream simulator (HTTP server) per tier, faults cleared."""
    for sim in _tier_simulators.values():
        sim.reset()
    return _tier_simulators


def tier_config(sims, **overrides) -> list[dict]:
    """Tier JSON (docs/llm.md format) with each tier on its own simulator; `overrides` maps a
    tier name to provider fields."""
    prices = {"strong": (0.0025, 0.01), "cheap": (0.00015, 0.0006), "local": (0.0, 0.0)}
    return [
        {
            "name": name,
            "providers": [
                {
                    "name": name,
                    "base_url": sims[name].base_url,
                    "model": f"{name}-model",
                    "price_in_per_1k": prices[name][0],
                    "price_out_per_1k": prices[name][1],
                    "first_token_timeout_s": 2.0,
                    **overrides.get(name, {}),
                }
            ],
        }
        for name in TIER_NAMES
    ]
