"""Storage rules (eviction), the admin pages, and the replay command."""

import io
import json
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from chatbot.cache import services
from chatbot.cache.models import CachedAnswer
from chatbot.cache.scope import Scope, current_scope
from chatbot.models import Conversation, Message
from chatbot.services import feedback_record
from knowledge.embeddings import get_embedder
from knowledge.models import FAQ

pytestmark = pytest.mark.django_db(transaction=True)


def store(question: str, answer: str = "An answer.", scope: Scope | None = None) -> CachedAnswer:
    """Stores in the current scope unless told otherwise."""
    scope = scope or current_scope(locale="en", context="")
    vector = get_embedder().embed([question])[0]
    entry = services.entry_store(question=question, answer=answer, vector=vector, scope=scope)
    assert entry is not None
    return entry


def test_the_same_question_is_stored_once_per_scope():
    store("Do you ship abroad?")
    vector = get_embedder().embed(["do you ship abroad"])[0]
    scope = current_scope(locale="en", context="")
    again = services.entry_store(
        question="do you ship abroad", answer="x", vector=vector, scope=scope
    )
    assert again is None
    other = Scope("en", scope.knowledge_version + 1, scope.config, "", scope.embedding_model)
    assert services.entry_store(
        question="do you ship abroad", answer="y", vector=vector, scope=other
    )


def test_eviction_keeps_frequently_hit_entries(settings):
    settings.ANSWER_CACHE_MAX_ENTRIES = 1000
    popular = store("Do you ship abroad?")
    for _ in range(3):
        services.entry_record_hit(entry_id=popular.pk)
    recent = store("Can I pay with PayPal?")
    services.entry_record_hit(entry_id=recent.pk)
    old = store("Where are you based?")
    CachedAnswer.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=1))
    expired = store("Do you have gift cards?")
    CachedAnswer.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    newest = store("How do I reset my password?")
    assert services.entries_evict_over_capacity(max_entries=3) == 2
    assert set(CachedAnswer.objects.values_list("pk", flat=True)) == {
        popular.pk,
        recent.pk,
        newest.pk,
    }, "expired first, then the least hit and least recently used"


def test_storing_beyond_the_maximum_evicts(settings):
    settings.ANSWER_CACHE_MAX_ENTRIES = 2
    for question in ["Do you ship abroad?", "Can I pay with PayPal?", "Where are you based?"]:
        store(question)
    assert CachedAnswer.objects.count() == 2
    assert CachedAnswer.objects.filter(question="Where are you based?").exists()


def test_admin_lists_searches_and_purges(admin_client):
    store("Do you ship abroad?", "Yes, to 30 countries.")
    gift = store("Do you have gift cards?", "Yes, from 10 euros.")
    url = reverse("admin:answer_cache_cachedanswer_changelist")
    page = admin_client.get(url, {"q": "gift"}).content.decode()
    assert "Do you have gift cards?" in page and "Do you ship abroad?" not in page
    assert "Promote to FAQ" in page
    response = admin_client.post(
        url, {"action": "purge_selected", "_selected_action": [gift.pk]}, follow=True
    )
    assert response.status_code == 200
    assert list(CachedAnswer.objects.values_list("question", flat=True)) == ["Do you ship abroad?"]


def test_admin_promotes_an_entry_to_an_faq_with_its_paraphrases(admin_client):
    entry = store("How long does delivery take?", "3-5 working days.")
    store("how long does delivery take please", "Usually 3-5 working days.")
    store("Do you have gift cards?")
    url = reverse("admin:answer_cache_cachedanswer_promote", args=[entry.pk])
    assert admin_client.get(url).status_code == 302 and not FAQ.objects.exists(), "POST only"
    response = admin_client.post(url)
    faq = FAQ.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:knowledge_faq_change", args=[faq.pk])
    assert (faq.question, faq.answer, faq.locale) == (entry.question, entry.answer, "en")
    assert set(faq.paraphrases.values_list("text", flat=True)) == {
        "How long does delivery take?",
        "how long does delivery take please",
    }
    assert list(CachedAnswer.objects.values_list("question", flat=True)) == [
        "Do you have gift cards?"
    ]


def test_replay_runs_turns_through_the_pipeline(upstream, tmp_path):
    turns = [
        {"conversation": "a", "text": "How do I return an item?"},
        {"conversation": "a", "text": "and how long does that take?"},
        {"conversation": "b", "text": "how do I return an item"},
        {"conversation": "b", "text": "And how long does that take?"},
        {"conversation": "c", "text": "My name is Alice, how do I return an item?"},
    ]
    path = tmp_path / "turns.jsonl"
    path.write_text("\n".join(json.dumps(t) for t in turns) + "\n")
    out = io.StringIO()
    call_command("replay", str(path), stdout=out)
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["source"] for r in results] == ["llm", "llm", "cache", "cache", "llm"]
    assert results[2]["answer"] == results[0]["answer"]
    assert results[2]["cache_score"] >= 0.88 and results[2]["cost"] == 0.0
    assert results[0]["model"] == "sim-model" and results[0]["completion_tokens"] > 0
    assert set(results[0]) == {
        "text", "source", "answer", "faq_id", "cache_score", "model", "ttft_ms", "total_ms",
        "prompt_tokens", "completion_tokens", "cost",
    }  # fmt: skip
    assert upstream.stats.requests == 3
    assert np.all([r["total_ms"] >= r["ttft_ms"] for r in results])


def turn(text: str, answer: str, source: str, trace: dict | None = None) -> Message:
    """A stored visitor question and its bot answer; returns the bot message."""
    conversation = Conversation.objects.create(locale="en")
    question = Message.objects.create(conversation=conversation, role="visitor", text=text)
    return Message.objects.create(
        conversation=conversation,
        role="bot",
        text=answer,
        source=source,
        reply_to=question,
        trace=trace or {},
    )


def test_an_answer_voted_down_before_the_cache_stored_it_is_not_stored():
    bot = turn("Do you ship abroad?", "We ship to Mars.", "llm")
    feedback_record(conversation=bot.conversation, message_id=bot.pk, value="down", comment="")
    vector = get_embedder().embed(["Do you ship abroad?"])[0]
    scope = current_scope(locale="en", context="")
    stored = services.entry_store(
        question="Do you ship abroad?",
        answer="We ship to Mars.",
        vector=vector,
        scope=scope,
        origin_message_id=bot.reply_to_id,
    )
    assert stored is None and not CachedAnswer.objects.exists()
    again = services.entry_store(
        question="Which countries do you deliver to?", answer="We ship to Mars.",
        vector=vector, scope=scope,
    )  # fmt: skip
    assert again is None, "the same answer text, made for another question"
    assert store("Do you ship to Canada?", "Yes, to Canada.")


def test_a_thumbs_down_evicts_every_entry_holding_that_answer():
    voted = store("Do you ship abroad?", "We ship everywhere.")
    follow_up = Scope(**{**current_scope(locale="en", context="").__dict__, "context": "abc"})
    twin = store("and to Canada?", "We ship everywhere.", scope=follow_up)
    other = store("Can I pay with PayPal?", "Yes.")
    trace = {"steps": [{"stage": "cache", "decision": "hit", "detail": {"entry_id": voted.pk}}]}
    bot = turn("do you ship abroad", "We ship everywhere.", "cache", trace)
    feedback_record(conversation=bot.conversation, message_id=bot.pk, value="down", comment="")
    assert list(CachedAnswer.objects.values_list("pk", flat=True)) == [other.pk]
    assert twin.pk != voted.pk


def test_a_thumbs_up_or_a_template_evicts_nothing():
    entry = store("Do you ship abroad?", "We ship everywhere.")
    trace = {"steps": [{"stage": "cache", "decision": "hit", "detail": {"entry_id": entry.pk}}]}
    liked = turn("do you ship abroad", "We ship everywhere.", "cache", trace)
    feedback_record(conversation=liked.conversation, message_id=liked.pk, value="up", comment="")
    template = turn("do you ship abroad", "We ship everywhere.", "fallback")
    feedback_record(
        conversation=template.conversation, message_id=template.pk, value="down", comment=""
    )
    assert list(CachedAnswer.objects.all()) == [entry]
