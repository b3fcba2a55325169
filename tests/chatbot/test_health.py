import logging
import os
import subprocess
import sys

import pytest
from asgiref.sync import async_to_sync

from chatbot.llm.breaker import Breakers, breaker_policy, tier_breaker
from chatbot.llm.tiers import configured_tiers

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _embeddings_loaded_and_no_check_failing(monkeypatch) -> None:
    from chatbot.ops import health
    from chatbot.ops.warmup import embeddings_ready

    embeddings_ready.set()
    monkeypatch.setattr(health, "_failing", {})


def test_serving_urls_does_not_load_the_model_sdk():
    """The URL conf (health, metrics, admin) starts without the openai SDK: about a second per
    process start, and a health check must not depend on it."""
    code = (
        "import sys, django; django.setup(); import chatbot.urls; "
        "print(sorted(m for m in ('openai', 'chatbot.llm.router') if m in sys.modules))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatbot.settings", "SECRET_KEY": "x"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_healthz_is_alive(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/readyz/models"])
def test_a_probe_by_address_over_plain_http_is_answered(client, async_client, settings, path):
    """Docker's and a load balancer's probes ask `http://127.0.0.1:8000/readyz`: with
    ALLOWED_HOSTS=chat.example.com that was 400 (and with SECURE_SSL_REDIRECT a redirect), so
    the compose web service never went healthy."""
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get(path, HTTP_HOST="127.0.0.1:8000").status_code == 200
    response = async_to_sync(async_client.get)(path, headers={"Host": "10.0.3.7:8000"})
    assert response.status_code == 200
    assert client.get("/", HTTP_HOST="127.0.0.1:8000").status_code == 400  # the rest as ever


def test_readyz_reports_each_check_and_the_model_tiers(client, settings):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"] == {"database": True, "embeddings": True}
    assert body["models"] == {"answering": True, "tiers": {"local": "closed"}}
    assert client.get("/readyz/models").status_code == 200


def _open_every_tier_breaker() -> None:
    policy = breaker_policy()
    breakers = Breakers(policy)
    for tier in configured_tiers():
        for _ in range(policy.min_calls):
            async_to_sync(breakers.record)(tier_breaker(tier.name), False)


def test_with_every_model_tier_down_the_process_stays_in_rotation(client, settings):
    """FAQ answers, the cache, templates and agents still work: /readyz stays 200 and says the
    model is down; /readyz/models is the one that fails (for alerts)."""
    _open_every_tier_breaker()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["models"] == {"answering": False, "tiers": {"local": "open"}}
    models = client.get("/readyz/models")
    assert models.status_code == 503
    assert models.json() == {"answering": False, "tiers": {"local": "open"}}


@pytest.mark.redis
def test_readyz_fails_when_redis_is_unreachable_and_says_so_once(client, settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    with caplog.at_level(logging.INFO):
        responses = [client.get("/readyz") for _ in range(5)]
    assert [r.status_code for r in responses] == [503] * 5
    assert responses[0].json()["checks"]["redis"] is False
    redis_lines = [r for r in caplog.records if "redis check" in r.getMessage()]
    assert len(redis_lines) == 1, [r.getMessage() for r in caplog.records]
    assert redis_lines[0].levelno == logging.WARNING
    assert responses[-1].json()["models"]["tiers"] == {"local": "closed"}, "from memory"
    assert not [r for r in caplog.records if r.exc_info], "no tracebacks"
    assert not [r for r in caplog.records if r.name == "django.request"]

    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert client.get("/readyz").status_code == 200
    assert [r.getMessage() for r in caplog.records if "passes again" in r.getMessage()] == [
        "readiness: the redis check passes again"
    ]


def test_half_open_tiers_are_not_answering(client, settings):
    """After its cooldown an open breaker reads half-open (a trial call may go): counted as
    answering, /readyz/models said 200 through a whole outage of the model server but for the
    2 s each breaker stayed open (a model-tiers walk)."""
    settings.LLM_BREAKER_COOLDOWN_S = 0.0
    _open_every_tier_breaker()
    models = client.get("/readyz/models")
    assert models.json() == {"answering": False, "tiers": {"local": "half_open"}}
    assert models.status_code == 503
    # One trial call answers: answering again, though the breaker waits for its second trial
    # to close (a re-walk read 503 beside answers being served).
    breakers = Breakers(breaker_policy())
    assert async_to_sync(breakers.allow)(tier_breaker("local")).allowed
    async_to_sync(breakers.record)(tier_breaker("local"), True)
    models = client.get("/readyz/models")
    assert models.json() == {"answering": True, "tiers": {"local": "half_open_answering"}}
    assert models.status_code == 200


def test_model_tiers_that_cannot_be_read_are_not_reported_as_answering(client, settings):
    """A model-tiers walk: a typo in a tier field failed every answer while /readyz said 200
    with `answering: true` and no tiers, so no model alert could fire."""
    settings.LLM_TIERS_JSON = '[{"name": "a", "providers": [{"model": "m", "price_in": 1}]}]'
    response = client.get("/readyz")
    assert response.status_code == 200, "the FAQ, the cache and agents still work"
    assert response.json()["models"] == {"answering": False, "tiers": {}}
    assert client.get("/readyz/models").status_code == 503
