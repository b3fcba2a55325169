"""The pgvector path: runs in the PostgreSQL pass of `make test` (CHATBOT_TEST_POSTGRES=1)."""

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from knowledge import services
from knowledge.embeddings import get_embedder
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
    assert "SET" not in sql.upper().split("OFFSET")[0]
    assert sql.count("$1") == 1 and "$4" not in sql, "vector, locale and limit, each once"
    assert len(sql) < 500, "the vector is a bound parameter, not 384 floats spelled out"


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
