"""On PostgreSQL, transcript search reads a stored tsvector of each message's search tokens
(GIN-indexed), as the help centre's chunks do (knowledge 0006): `simple` configuration, since
the tokens are stemmed and segmented (jieba) already. Other databases: nothing to do."""

from django.db import migrations

FORWARD = [
    "ALTER TABLE inbox_messagesearch ADD COLUMN IF NOT EXISTS search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple', search_tokens)) STORED",
    "CREATE INDEX IF NOT EXISTS inbox_messagesearch_vector_gin "
    "ON inbox_messagesearch USING gin (search_vector)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS inbox_messagesearch_vector_gin",
    "ALTER TABLE inbox_messagesearch DROP COLUMN IF EXISTS search_vector",
]


def _run(statements: list[str]):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("inbox", "0001_initial")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
