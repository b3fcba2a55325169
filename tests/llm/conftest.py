import pytest


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
