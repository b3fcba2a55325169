"""Tier configuration: defaults, JSON from an env variable or a file, key pools."""

import json

import pytest

from chatbot.llm.tiers import TierConfigError, configured_tiers

CONFIG = [
    {
        "name": "strong",
        "providers": [
            {
                "name": "a",
                "base_url": "http://a/v1",
                "model": "big",
                "api_key_env": ["KEY_A1", "KEY_A2", "KEY_UNSET"],
                "price_in_per_1k": 0.003,
                "price_out_per_1k": 0.015,
                "rpm": 100,
                "tpm": 50000,
                "first_token_timeout_s": 4,
                "weight": 3,
            },
            {"name": "b", "base_url": "http://b/v1", "model": "big-b", "api_key_env": "KEY_B"},
        ],
    },
    {"name": "local", "providers": [{"base_url": "http://127.0.0.1:8765/v1", "model": "tiny"}]},
]


def test_without_openai_key_only_the_local_model(settings):
    settings.OPENAI_API_KEY = ""
    settings.LLM_TIERS_JSON = settings.LLM_TIERS_FILE = ""
    tiers = configured_tiers()
    assert [t.name for t in tiers] == ["local"]
    (upstream,) = tiers[0].upstreams()
    assert upstream.provider.base_url == settings.LOCAL_LLM_BASE_URL
    assert upstream.key_label == "none"


def test_with_openai_key_strong_cheap_and_local(settings, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings.OPENAI_API_KEY = "sk-test"
    settings.LLM_TIERS_JSON = settings.LLM_TIERS_FILE = ""
    tiers = configured_tiers()
    assert [t.name for t in tiers] == ["strong", "cheap", "local"]
    strong, cheap = tiers[0].providers[0], tiers[1].providers[0]
    assert (strong.model, cheap.model) == (settings.OPENAI_STRONG_MODEL, settings.OPENAI_MODEL)
    assert strong.price_out_per_1k > cheap.price_out_per_1k > 0
    assert [u.key_label for u in tiers[0].upstreams()] == ["OPENAI_API_KEY"]
    assert "sk-test" not in repr(tiers[0].upstreams()[0]), "keys stay out of reprs and logs"


def test_json_from_env_with_a_key_pool_and_weights(settings, monkeypatch):
    monkeypatch.setenv("KEY_A1", "k1")
    monkeypatch.setenv("KEY_A2", "k2")
    monkeypatch.setenv("KEY_B", "kb")
    settings.LLM_TIERS_JSON = json.dumps(CONFIG)
    strong, local = configured_tiers()
    assert [u.id for u in strong.upstreams()] == ["a/KEY_A1", "a/KEY_A2", "b/KEY_B"]
    a = strong.providers[0]
    assert (a.rpm, a.tpm, a.weight, a.first_token_timeout_s) == (100, 50000, 3, 4)
    assert a.cost(1000, 1000) == pytest.approx(0.018)
    assert local.providers[0].name == "local-1" and local.upstreams()[0].api_key


def test_weights_share_a_tier(settings):
    import random

    settings.LLM_TIERS_JSON = json.dumps(CONFIG)
    strong = configured_tiers()[0]
    rng = random.Random(1)
    firsts = [strong.providers_by_weight(rng)[0].name for _ in range(2000)]
    assert firsts.count("a") / len(firsts) == pytest.approx(0.75, abs=0.03)


def test_json_from_a_file(settings, tmp_path):
    path = tmp_path / "tiers.json"
    path.write_text(json.dumps({"tiers": CONFIG}))
    settings.LLM_TIERS_JSON = ""
    settings.LLM_TIERS_FILE = str(path)
    assert [t.name for t in configured_tiers()] == ["strong", "local"]


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        "[]",
        json.dumps([{"name": "x", "providers": [{"model": "m", "colour": "red"}]}]),
        json.dumps([{"name": "x", "providers": [{"base_url": "http://x"}]}]),
        json.dumps([{"name": "x", "providers": [{"model": "m"}]}] * 2),
        # A provider's field on the tier: dropped without a word, every answer cost $0 (a walk).
        json.dumps([{"name": "x", "providers": [{"model": "m"}], "price_in_per_1k": 0.5}]),
        json.dumps([{"name": "x", "providers": [{"model": "m", "price_in_per_1k": -1}]}]),
        json.dumps([{"name": "x", "providers": [{"model": "m", "weight": 0}]}]),
        json.dumps([{"name": "x", "providers": [{"model": "m", "first_token_timeout_s": 0}]}]),
    ],
)
def test_bad_configuration_is_refused_loudly(settings, bad):
    settings.LLM_TIERS_JSON = bad
    with pytest.raises(TierConfigError):
        configured_tiers()


def test_both_tier_settings_at_once_are_refused(settings, tmp_path):
    """LLM_TIERS_FILE was ignored without a word beside LLM_TIERS_JSON, even one that did not
    exist (a model-tiers walk)."""
    settings.LLM_TIERS_JSON = json.dumps([{"name": "x", "providers": [{"model": "m"}]}])
    settings.LLM_TIERS_FILE = str(tmp_path / "tiers.json")
    with pytest.raises(TierConfigError, match="not both"):
        configured_tiers()


def test_a_free_model_is_a_price_of_zero(settings):
    settings.LLM_TIERS_JSON = json.dumps(
        [{"name": "x", "providers": [{"model": "m", "price_in_per_1k": 0, "rpm": 0, "tpm": 0}]}]
    )
    assert configured_tiers()[0].providers[0].price_in_per_1k == 0
