"""On PostgreSQL, chunks are no longer searched by full text: retrieval's word side is the same
BM25 index in process as on SQLite (docs/retrieval.md, "PostgreSQL"), so the stored tsvector
column and its GIN index go (each chunk insert maintained both). Other databases: nothing to
do. Backwards: 0006's column and index again."""

from django.db import migrations

FORWARD = [
    "DROP INDEX IF EXISTS knowledge_chunk_search_vector_gin",
    "ALTER TABLE knowledge_chunk DROP COLUMN IF EXISTS search_vector",
]
BACKWARD = [
    "ALTER TABLE knowledge_chunk ADD COLUMN IF NOT EXISTS search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple', search_tokens)) STORED",
    "CREATE INDEX IF NOT EXISTS knowledge_chunk_search_vector_gin "
    "ON knowledge_chunk USING gin (search_vector)",
]


def _run(statements: list[str]):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0011_chunk_tokenizer_version")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
