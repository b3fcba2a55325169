"""The "Did you mean" facts of a bot reply as columns (docs/analytics.md): how many questions it
offered, filled in from the traces of the replies stored before them, and whether the visitor
took one (counted from this migration on: a taken offer was not recorded before it)."""

from django.db import migrations, models

BATCH = 1000


def offers_fill(apps, schema_editor, batch: int = BATCH) -> None:
    """Every stored reply with offers in its trace gets their number, `batch` rows at a time.
    Reads the trace itself (not chatbot.answer_facts) so that later facts do not change it."""
    message_model = apps.get_model("chatbot", "Message")
    replies = message_model.objects.filter(role="bot", trace__has_key="offers").order_by("id")
    last = 0
    while rows := list(replies.filter(id__gt=last).only("id", "trace")[:batch]):
        for row in rows:
            row.offers = len((row.trace or {}).get("offers") or ())
        message_model.objects.bulk_update(rows, ["offers"])
        last = rows[-1].id


class Migration(migrations.Migration):
    dependencies = [
        ("chatbot", "0020_handoff_reason_choices"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="offer_taken",
            field=models.BooleanField(default=False, verbose_name="offer taken"),
        ),
        migrations.AddField(
            model_name="message",
            name="offers",
            field=models.PositiveSmallIntegerField(default=0, verbose_name="did you mean offers"),
        ),
        migrations.RunPython(offers_fill, migrations.RunPython.noop),
    ]
