"""The demo store's data and a real store's: `make run` loads the demo into a database once, so
a store that edited or removed demo content keeps it so, and `load_demo --remove` takes the demo
out (an onboarding walk: every `make run` put the deleted demo FAQs and articles back and undid
an edited answer)."""

from io import StringIO

import pytest
from django.core.management import call_command

from chatbot.models import DEMO_VISITOR_PREFIX, Conversation, PageGreeting
from knowledge import services
from knowledge.models import FAQ, Document

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def load_demo(*args: str) -> str:
    out = StringIO()
    call_command("load_demo", *args, stdout=out)
    return out.getvalue()


def test_the_demo_loads_once_and_comes_out_leaving_the_stores_own_content(tmp_path, settings):
    settings.DEMO_ADMIN_PASSWORD_FILE = str(tmp_path / "admin-password.txt")
    assert "Demo FAQs:" in load_demo("--once")
    assert any("demo" in d.tags for d in Document.objects.all())
    edited = FAQ.objects.get(locale="en", question="Do you price match?")
    services.faq_save(faq=edited, question=edited.question, answer="Our own answer.")
    FAQ.objects.filter(locale="en", question="How do I return an item?").delete()

    again = load_demo("--once")
    assert "not again" in again and "Demo FAQs:" not in again
    assert FAQ.objects.get(locale="en", question="Do you price match?").answer == "Our own answer."
    assert not FAQ.objects.filter(question="How do I return an item?").exists()

    own = services.faq_save(question="Do your lamps take E27 bulbs?", answer="Yes, all of them.")
    removed = load_demo("--remove")
    assert "Demo content removed" in removed
    assert set(FAQ.objects.values_list("question", flat=True)) == {
        "Do you price match?",  # edited: the store's now
        own.question,
    }
    assert not Document.objects.exists()
    assert not PageGreeting.objects.exists()
    assert not Conversation.objects.filter(visitor_token__startswith=DEMO_VISITOR_PREFIX).exists()
    assert "not again" in load_demo("--once")
    assert FAQ.objects.count() == 2
