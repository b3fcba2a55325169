"""A bot answer's facts as columns (chatbot.answer_facts), filled in from the traces of the
answers stored before them."""

from django.db import migrations, models

from chatbot.answer_facts import answer_facts

BATCH = 1000
# The columns this migration adds, frozen: a fact added to AnswerFacts later is added (and filled)
# by its own migration, and this one must not write a column its historical model lacks.
COLUMNS = (
    "first_token_ms",
    "cost_usd",
    "llm_model",
    "llm_tier",
    "llm_called",
    "faq_id",
    "faq_score",
    "faq_decision",
    "grounding",
    "nothing_relevant",
    "models_down",
    "answer_promised",
    "tiers_skipped",
    "tiers_failed",
    "tier_events",
)


def facts_fill(apps, schema_editor, batch: int = BATCH) -> None:
    """Every stored bot answer gets the facts of its trace, `batch` rows at a time."""
    message_model = apps.get_model("chatbot", "Message")
    answers = message_model.objects.filter(role="bot").order_by("id")
    last = 0
    while rows := list(answers.filter(id__gt=last).only("id", "trace")[:batch]):
        for row in rows:
            facts = answer_facts(row.trace or {}).columns()
            for name in COLUMNS:
                setattr(row, name, facts[name])
        message_model.objects.bulk_update(rows, list(COLUMNS))
        last = rows[-1].id


class Migration(migrations.Migration):
    dependencies = [
        ("chatbot", "0015_agent_avatar"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="first_token_ms",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="message",
            name="cost_usd",
            field=models.FloatField(default=0.0),
        ),
        migrations.AddField(
            model_name="message",
            name="llm_model",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
        migrations.AddField(
            model_name="message",
            name="llm_tier",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="message",
            name="llm_called",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="message",
            name="faq_id",
            field=models.IntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="message",
            name="faq_score",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="message",
            name="faq_decision",
            field=models.CharField(blank=True, default="", max_length=32),
        ),
        migrations.AddField(
            model_name="message",
            name="grounding",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.AddField(
            model_name="message",
            name="nothing_relevant",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="message",
            name="models_down",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="message",
            name="answer_promised",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="message",
            name="tiers_skipped",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="message",
            name="tiers_failed",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="message",
            name="tier_events",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(facts_fill, migrations.RunPython.noop, elidable=True),
    ]
