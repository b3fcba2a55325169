"""`models_down` and `llm_called` again for answers stored before a model stage that asked no
model (nothing relevant in the help centre, a refused topic) stopped counting as "every model
down" (chatbot.answer_facts.models_were_down)."""

from django.db import migrations
from django.db.models import Q

from chatbot.answer_facts import answer_facts

BATCH = 1000


def facts_refill(apps, schema_editor, batch: int = BATCH) -> None:
    message_model = apps.get_model("chatbot", "Message")
    answers = message_model.objects.filter(Q(models_down=True) | Q(llm_called=True), role="bot")
    last = 0
    while rows := list(answers.filter(id__gt=last).order_by("id").only("id", "trace")[:batch]):
        for row in rows:
            facts = answer_facts(row.trace or {})
            row.models_down, row.llm_called = facts.models_down, facts.llm_called
        message_model.objects.bulk_update(rows, ["models_down", "llm_called"])
        last = rows[-1].id


class Migration(migrations.Migration):
    dependencies = [
        ("chatbot", "0021_did_you_mean_offers"),
    ]

    operations = [migrations.RunPython(facts_refill, migrations.RunPython.noop)]
