"""The pgvector path: runs in the PostgreSQL pass of `make test` (CHATBOT_TEST_POSTGRES=1)."""

import zlib

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from knowledge import embeddings, services
from knowledge.embeddings import get_embedder
from knowledge.importing import import_faqs
from knowledge.index import InMemoryIndex, get_index
from knowledge.pgvector_index import PgVectorIndex
from knowledge.selectors import faq_lookup

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("runs in the PostgreSQL pass (CHATBOT_TEST_POSTGRES=1)")


@pytest.fixture
def store():
    faq = services.faq_save(question="How do I reset my password?", answer="Use the reset link.")
    services.paraphrases_add(faq=faq, texts=["forgot my password", "password reset link"])
    other = services.faq_save(question="Do you ship abroad?", answer="Yes, to 40 countries.")
    services.paraphrases_add(
        faq=other, texts=["international shipping", "do you deliver to canada"]
    )
    zh = services.faq_save(question="怎么退货？", answer="30天内可退货。", locale="zh-hans")
    services.paraphrases_add(faq=zh, texts=["退货流程"])
    return faq


def test_the_hnsw_index_exists():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes "
            "WHERE indexname = 'knowledge_paraphrase_embedding_hnsw'"
        )
        (definition,) = cursor.fetchone()
    assert "hnsw" in definition and "vector_ip_ops" in definition


def test_pgvector_search_agrees_with_the_exact_search(store):
    assert isinstance(get_index(), PgVectorIndex)
    query = get_embedder().embed(["I forgot my password, what now?"])[0]
    from_pg = PgVectorIndex().search(query, locale="en", k=5)
    exact = InMemoryIndex().search(query, locale="en", k=5)
    assert [n.text for n in from_pg] == [n.text for n in exact]
    assert np.allclose([n.score for n in from_pg], [n.score for n in exact], atol=1e-6)
    assert {n.faq_id for n in from_pg} == {store.pk, store.pk + 1}, (
        "the Chinese FAQ is filtered out"
    )


def test_faq_lookup_answers_through_pgvector(store):
    found = faq_lookup(text="How can I reset my password?", locale="en")
    assert found.answered and found.result.faq_id == store.pk
    assert found.text == "Use the reset link."


def test_a_search_is_one_query_with_the_vector_sent_once(store):
    query = get_embedder().embed(["I forgot my password, what now?"])[0]
    index = PgVectorIndex()
    index.search(query, locale="en", k=5)  # the connection is open: its setup is not counted
    with CaptureQueriesContext(connection) as sent:
        found = index.search(query, locale="en", k=5)
    assert found and len(sent) == 1, [q["sql"] for q in sent]
    sql = sent[0]["sql"]
    assert "ef_search" not in sql
    assert sql.count("$1") == 1 and "$4" not in sql, "vector, locale and limit, each once"
    assert len(sql) < 500, "the vector is a bound parameter, not 384 floats spelled out"


def test_unembedded_paraphrases_are_never_neighbours(store, monkeypatch):
    monkeypatch.setattr(services, "_enqueue_embeddings", lambda ids: None)
    services.paraphrases_add(faq=store, texts=["not embedded yet"])
    query = get_embedder().embed(["forgot my password"])[0]
    found = PgVectorIndex().search(query, locale="en", k=50)
    exact = InMemoryIndex().search(query, locale="en", k=50)
    assert [(n.faq_id, n.text) for n in found] == [(n.faq_id, n.text) for n in exact]
    assert len(found) == 6 and "not embedded yet" not in {n.text for n in found}


@pytest.fixture
def fresh_connection():
    """Closes the connection before and after the test: settings are read when one opens."""
    connection.close()
    yield
    connection.close()


def test_ef_search_is_set_once_when_a_connection_opens(settings, fresh_connection):
    settings.PGVECTOR_EF_SEARCH = 57
    query = np.ones(384, dtype=np.float32) / np.sqrt(384)
    PgVectorIndex().search(query, locale="en", k=5)  # opens the connection, loads pgvector
    with CaptureQueriesContext(connection) as sent:
        PgVectorIndex().search(query, locale="en", k=5)
        with connection.cursor() as cursor:
            cursor.execute("SHOW hnsw.ef_search")
            (value,) = cursor.fetchone()
    assert value == "57"
    assert not any("ef_search" in q["sql"] for q in sent[:-1]), "no SET per search"


class RandomEmbedder:
    """A unit vector per text, the same for the same text: only the planner is under test."""

    dimension = 384

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = [np.random.default_rng(zlib.crc32(t.encode())).standard_normal(384) for t in texts]
        vectors = np.array(rows, dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _row_estimates() -> list[float]:
    """The planner's row counts of the FAQ and paraphrase tables (-1: never analysed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class "
            "WHERE relname IN ('knowledge_faq', 'knowledge_paraphrase')"
        )
        return [row[0] for row in cursor.fetchall()]


def test_a_fresh_import_is_searched_through_the_hnsw_index(monkeypatch):
    monkeypatch.setattr(embeddings, "_default", RandomEmbedder())
    assert all(n <= 0 for n in _row_estimates()), "precondition: no statistics, as after migrate"
    faqs = [
        {
            "question": f"question {i}",
            "answer": f"answer {i}",
            "paraphrases": [f"question {i}, wording {j}" for j in range(9)],
        }
        for i in range(40)
    ]
    import_faqs({"version": 1, "faqs": faqs})
    assert sorted(_row_estimates()) == [40, 400]

    query = RandomEmbedder().embed(["question 7"])[0]
    plan = PgVectorIndex().plan(query, locale="en", k=20)
    assert any("Index Scan using knowledge_paraphrase_embedding_hnsw" in p for p in plan), plan
    found = PgVectorIndex().search(query, locale="en", k=20)
    assert found[0].text == "question 7" and found[0].score == pytest.approx(1.0, abs=1e-6)
