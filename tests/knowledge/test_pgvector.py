"""The pgvector path: runs in the PostgreSQL pass of `make test` (CHATBOT_TEST_POSTGRES=1)."""

import io
import zlib

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from knowledge import services
from knowledge.embeddings import get_embedder
from knowledge.importing import import_faqs
from knowledge.index import InMemoryIndex, get_index, reset_index
from knowledge.models import Paraphrase
from knowledge.pgvector_index import PgVectorIndex, model_index_name
from knowledge.selectors import faq_lookup

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgres(settings):
    if connection.vendor != "postgresql":
        pytest.skip("runs in the PostgreSQL pass (CHATBOT_TEST_POSTGRES=1)")
    settings.FAQ_INDEX = "pgvector"  # the in-memory copy is the default on PostgreSQL too
    reset_index()
    yield
    reset_index()


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


def test_the_minilm_vectors_have_their_own_hnsw_index():
    identity = get_embedder().identity
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", [model_index_name(identity)]
        )
        (definition,) = cursor.fetchone()
    assert "hnsw" in definition and "vector_ip_ops" in definition
    assert "(embedding_vec)::vector(384)" in definition
    assert f"(embedding_model)::text = '{identity}'::text" in definition


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
    assert len(sql) < 1000, "the vector is a bound parameter, not 384 floats (3,000+ characters)"


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
    identity = "random/384"

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


def test_a_fresh_import_is_searched_through_the_hnsw_index(monkeypatch, swap_embedder):
    swap_embedder(RandomEmbedder())
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
    index_name = model_index_name(RandomEmbedder.identity)
    assert any(f"Index Scan using {index_name}" in p for p in plan), plan
    found = PgVectorIndex().search(query, locale="en", k=20)
    assert found[0].text == "question 7" and found[0].score == pytest.approx(1.0, abs=1e-6)


class Random512Embedder(RandomEmbedder):
    """Another model, of another dimension."""

    dimension = 512
    identity = "random/512"

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = [np.random.default_rng(zlib.crc32(t.encode())).standard_normal(512) for t in texts]
        vectors = np.array(rows, dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_two_models_of_two_dimensions_share_the_column_each_through_its_own_index(
    monkeypatch, swap_embedder
):
    swap_embedder(RandomEmbedder())
    faqs = [
        {"question": f"question {i}", "answer": f"answer {i}",
         "paraphrases": [f"question {i}, wording {j}" for j in range(9)]}
        for i in range(40)
    ]  # fmt: skip
    import_faqs({"version": 1, "faqs": faqs})
    swap_embedder(Random512Embedder())
    batches = services.paraphrases_reembed(batch_size=100)
    next(batches)  # a store halfway through: 100 rows on the new model, 300 on the old
    query = Random512Embedder().embed(["question 7"])[0]
    found = PgVectorIndex().search(query, locale="en", k=400)
    moved = set(Paraphrase.objects.filter(embedding_model="random/512").values_list("text"))
    assert len(found) == 100 and {(n.text,) for n in found} == moved
    swap_embedder(RandomEmbedder())
    old = PgVectorIndex().search(RandomEmbedder().embed(["question 7"])[0], locale="en", k=400)
    assert len(old) == 300 and not {n.text for n in old} & {t for (t,) in moved}

    swap_embedder(Random512Embedder())
    list(batches)  # the rest, then fresh statistics
    found = PgVectorIndex().search(query, locale="en", k=20)
    assert found[0].text == "question 7" and found[0].score == pytest.approx(1.0, abs=1e-6)
    plan = PgVectorIndex().plan(query, locale="en", k=20)
    name = model_index_name("random/512")
    assert any(f"Index Scan using {name}" in p for p in plan), plan
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT vector_dims(embedding_vec) FROM knowledge_paraphrase")
        assert cursor.fetchall() == [(512,)]


def test_pgvector_marks_the_faqs_with_one_phrasing_as_the_exact_search_does(store):
    gift = services.faq_save(question="Do you sell gift cards?", answer="Yes, from 10 euros.")
    query = get_embedder().embed(["can I buy a gift card"])[0]
    from_pg = PgVectorIndex().search(query, locale="en", k=10)
    exact = InMemoryIndex().search(query, locale="en", k=10)
    assert [(n.faq_id, n.lone) for n in from_pg] == [(n.faq_id, n.lone) for n in exact]
    assert from_pg[0].faq_id == gift.pk and {n.faq_id for n in from_pg if n.lone} == {gift.pk}


def test_a_store_moved_with_dumpdata_and_loaddata_is_searched_after_reembed(store, tmp_path):
    """A move walk: the pilot's data went from SQLite to PostgreSQL with `dumpdata` /
    `loaddata`; every row came, but the pgvector columns stayed empty, so the help centre found
    nothing and pgvector FAQ search nothing, and the running processes kept the FAQ store from
    before the load. `reembed` (the documented step after it) fills them and moves the version."""
    from django.core.management import call_command

    from knowledge import content_version
    from knowledge.documents.indexing import reset_chunk_index
    from knowledge.documents.types import Block, BlockKind, ParsedDocument
    from knowledge.models import FAQ, Chunk, Document
    from knowledge.selectors import passages_retrieve

    article = ParsedDocument(
        title="Kettle care",
        blocks=(Block(BlockKind.PARAGRAPH, "Descale the Zephyr kettle every six weeks."),),
        locale="en",
    )
    services.document_upsert(parsed=article, source_key="kettle.md", index_inline=True)
    dump = tmp_path / "pilot.json"
    call_command("dumpdata", "knowledge.faq", "knowledge.paraphrase", "knowledge.document",
                 "knowledge.chunk", output=str(dump), verbosity=0)  # fmt: skip
    Document.objects.all().delete()
    FAQ.objects.all().delete()
    call_command("loaddata", str(dump), verbosity=0)

    def empty_columns() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT count(*) FROM knowledge_paraphrase WHERE embedding_vec IS NULL),"
                " (SELECT count(*) FROM knowledge_chunk WHERE embedding_vec IS NULL)"
            )
            return cursor.fetchone()

    assert empty_columns() == (Paraphrase.objects.count(), Chunk.objects.count())
    reset_chunk_index()
    question = "How often should I descale the kettle?"
    before = passages_retrieve(text=question, locale="en")
    assert (before.relevant, before.best_vector_score) == (False, 0.0), "no vector found it"
    version = content_version.knowledge_version()

    out = io.StringIO()
    call_command("reembed", stdout=out)

    assert empty_columns() == (0, 0)
    assert f"of {Paraphrase.objects.count()} paraphrases and 1 chunks" in out.getvalue()
    assert content_version.knowledge_version() != version, "running processes reload"
    reset_chunk_index()
    found = passages_retrieve(text=question, locale="en")
    assert found.relevant and found.passages[0].title == "Kettle care"
    assert faq_lookup(text="I forgot my password, what now?", locale="en").result.faq_id
    call_command("reembed", stdout=io.StringIO())
    assert empty_columns() == (0, 0), "a second run has nothing to fill"


def test_an_index_made_in_a_transaction_that_rolled_back_is_made_again():
    """A test's rolled-back transaction left a process sure of a chunk index its database did
    not have: a later module's import went unindexed (CI, twice)."""
    from django.db import transaction

    from knowledge import pgvector_index
    from knowledge.documents import indexing

    identity = "rollback-test/8"
    made = (
        (indexing._INDEXED, indexing.ensure_chunk_model_index, indexing.chunk_model_index_name),
        (pgvector_index._INDEXED, pgvector_index.ensure_model_index, model_index_name),
    )

    def exists(name: str) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
            return cursor.fetchone()[0]

    for record, ensure, index_name in made:
        with pytest.raises(RuntimeError), transaction.atomic():
            ensure(identity=identity, dimension=8)
            raise RuntimeError("the transaction rolls back")
        assert not exists(index_name(identity))
        try:
            ensure(identity=identity, dimension=8)
            assert exists(index_name(identity)), "made again, not taken as made"
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP INDEX IF EXISTS "{index_name(identity)}"')
            record.discard(identity)
