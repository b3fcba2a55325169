import json

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "ops-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def metrics_token(settings) -> str:
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


@pytest.fixture
def priced_tier(settings, upstream) -> str:
    """One model tier of its own name on the simulator, with prices, so its counters start
    from this test."""
    settings.LLM_TIERS_JSON = json.dumps(
        [
            {
                "name": "ops-paid",
                "providers": [
                    {
                        "name": "ops-sim",
                        "base_url": upstream.base_url,
                        "model": "sim-model",
                        "price_in_per_1k": 1.0,
                        "price_out_per_1k": 2.0,
                    }
                ],
            }
        ]
    )
    return "ops-paid"


def value(name: str, **labels: str) -> float:
    """A sample of this process's registry, 0 when it does not exist yet."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics body by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }
