"""On PostgreSQL: the pgvector extension, a vector column beside the portable bytes column, and
an HNSW index for inner-product search. Other databases keep the in-process exact search."""

from django.db import migrations

DIMENSION = 384

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS vector",
    f"ALTER TABLE knowledge_paraphrase ADD COLUMN IF NOT EXISTS embedding_vec vector({DIMENSION})",
    "CREATE INDEX IF NOT EXISTS knowledge_paraphrase_embedding_hnsw "
    "ON knowledge_paraphrase USING hnsw (embedding_vec vector_ip_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS knowledge_paraphrase_embedding_hnsw",
    "ALTER TABLE knowledge_paraphrase DROP COLUMN IF EXISTS embedding_vec",
]


def _run(statements: list[str]):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
