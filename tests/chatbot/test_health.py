import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz_is_alive(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_reports_each_check(client, settings):
    from chatbot.warmup import embeddings_ready

    embeddings_ready.set()
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"] == {"database": True, "embeddings": True, "model_tier": True}


def test_readyz_fails_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] is False
