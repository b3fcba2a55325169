"""Negative examples: a thumbs-down on an FAQ answer is recorded for review; once a person
confirms it, the FAQ stage declines that FAQ for the question (and questions like it) while
the FAQ's own phrasings still get its answer."""

import time

import numpy as np
import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Permission, User
from django.test import Client as HttpClient
from django.urls import reverse

from chatbot import answering
from chatbot.models import Message
from chatbot.ops.reembedding import embeddings_reembed
from knowledge import services
from knowledge.embeddings import get_embedder
from knowledge.models import FAQ, NegativeExample
from knowledge.negative_store import negative_record, negatives_confirm, negatives_dismiss
from knowledge.negatives import NEGATIVE_EXAMPLE, NegativeVectors, declines
from knowledge.selectors import faq_lookup
from tests.conftest import chat_socket

pytestmark = [pytest.mark.django_db(transaction=True)]

# Answered by the delivery FAQ, and (in this test) a visitor says that was wrong.
WRONGLY_ANSWERED = "How many days does delivery take?"
OWN_PHRASING = "When will my order arrive?"


def make_store() -> FAQ:
    faq = services.faq_save(
        question="How long does delivery take?",
        answer="Standard delivery takes 3-5 working days.",
    )
    services.paraphrases_add(
        faq=faq, texts=[OWN_PHRASING, "how many days for shipping", "delivery time"]
    )
    other = services.faq_save(question="Can I pay with PayPal?", answer="Yes, we accept PayPal.")
    services.paraphrases_add(faq=other, texts=["is paypal accepted", "paying via paypal"])
    return faq


def pending_negative(faq: FAQ) -> NegativeExample:
    negative = negative_record(
        faq_id=faq.pk, text=WRONGLY_ANSWERED, locale="en", score=0.9, message_id=1
    )
    assert negative is not None
    return negative


def test_the_rule_vetoes_only_queries_as_close_to_the_negative_as_to_the_faq():
    assert declines(0.95, 0.97).item()
    assert declines(0.95, 0.95).item()
    assert not declines(0.95, 0.94).item(), "closer to the FAQ's own phrasing: answered"
    assert not declines(0.8, 0.85, min_similarity=0.9).item(), "not close enough to the negative"
    negatives = NegativeVectors(
        vectors=np.eye(3, dtype=np.float32)[:2], faq_ids=np.array([7, 8]), ids=np.array([1, 2])
    )
    hit = negatives.nearest(7, np.array([1, 0, 0], dtype=np.float32))
    assert hit is not None and (hit.negative_id, hit.similarity) == (1, 1.0)
    assert negatives.nearest(9, np.array([1, 0, 0], dtype=np.float32)) is None
    batch = negatives.nearest_batch(np.array([7, 8, 9]), np.eye(3, dtype=np.float32))
    assert batch[0] == 1.0 and batch[1] == 1.0 and batch[2] == -np.inf


@pytest.mark.usefixtures("settle")
async def test_a_thumbs_down_on_an_faq_answer_records_one_pending_negative(upstream, settings):
    faq = await database_sync_to_async(make_store)()
    async with chat_socket() as client:
        done = (await client.say(WRONGLY_ANSWERED, "q1"))[-1]
        assert done["source"] == "faq"
        for _ in range(2):  # a second vote on the same answer adds nothing
            await client.send(
                {"type": "feedback", "message_id": done["message"]["id"], "value": "down"}
            )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if await database_sync_to_async(NegativeExample.objects.exists)():
                break
            await database_sync_to_async(time.sleep)(0.05)
        # A model answer's thumbs-down is no negative of any FAQ.
        llm = (await client.say("Tell me a joke about penguins", "q2"))[-1]
        assert llm["source"] != "faq"
        await client.send({"type": "feedback", "message_id": llm["message"]["id"], "value": "down"})
        await database_sync_to_async(time.sleep)(0.3)
    await answering.wait_for_running_answers()
    negatives = await database_sync_to_async(lambda: list(NegativeExample.objects.all()))()
    assert len(negatives) == 1
    negative = negatives[0]
    assert (negative.faq_id, negative.text, negative.locale) == (faq.pk, WRONGLY_ANSWERED, "en")
    assert negative.status == NegativeExample.Status.PENDING
    assert negative.message_id == done["message"]["id"]
    assert negative.score == pytest.approx(done["trace"]["score"], abs=1e-3)
    assert negative.embedding is None, "pending negatives are not embedded"


def test_pending_and_dismissed_negatives_do_not_decline():
    faq = make_store()
    negative = pending_negative(faq)
    assert faq_lookup(text=WRONGLY_ANSWERED, locale="en").result.faq_id == faq.pk
    negatives_dismiss(negative_ids=[negative.pk])
    negative.refresh_from_db()
    assert negative.status == NegativeExample.Status.DISMISSED
    assert faq_lookup(text=WRONGLY_ANSWERED, locale="en").result.faq_id == faq.pk


def test_a_confirmed_negative_is_embedded_and_declines_the_question_not_the_faqs_phrasing():
    faq = make_store()
    negative = pending_negative(faq)
    assert negatives_confirm(negative_ids=[negative.pk]) == 1
    negative.refresh_from_db()
    assert negative.status == NegativeExample.Status.CONFIRMED
    assert negative.embedding_model == get_embedder("en").identity
    assert negative.vector() is not None and negative.vector().shape == (384,)

    declined = faq_lookup(text=WRONGLY_ANSWERED, locale="en")
    assert not declined.answered
    assert declined.decision == NEGATIVE_EXAMPLE
    assert declined.result.best_faq_id == faq.pk, "the declined candidate stays in the result"
    assert declined.negative is not None and declined.negative.negative_id == negative.pk
    assert faq_lookup(text=OWN_PHRASING, locale="en").result.faq_id == faq.pk


@pytest.mark.usefixtures("settle")
async def test_the_faq_stage_records_the_veto_in_the_trace(upstream, settings):
    """Asked twice: the first lookup goes to the database, the repeat is answered from the
    in-memory index (on PostgreSQL too); both paths decline."""
    settings.FAQ_INDEX_RECHECK_S = 60
    faq = await database_sync_to_async(make_store)()
    negative = await database_sync_to_async(pending_negative)(faq)
    await database_sync_to_async(negatives_confirm)(negative_ids=[negative.pk])
    async with chat_socket() as client:
        declined = [(await client.say(WRONGLY_ANSWERED, f"q{n}"))[-1] for n in range(2)]
        answered = (await client.say(OWN_PHRASING, "own"))[-1]
    assert all(d["source"] != "faq" for d in declined)  # the model, then its cached answer
    assert answered["source"] == "faq"
    await answering.wait_for_running_answers()
    lookups = []
    for done in declined:
        trace = await database_sync_to_async(
            lambda done=done: Message.objects.get(pk=done["message"]["id"]).trace
        )()
        step = next(s for s in trace["steps"] if s["stage"] == "faq")
        assert step["decision"] == NEGATIVE_EXAMPLE
        assert step["detail"]["faq_id"] == faq.pk
        assert step["detail"]["negative_id"] == negative.pk
        assert step["detail"]["negative_similarity"] >= 0.9
        lookups.append(step["detail"]["lookup"])
    assert lookups == ["database", "memory"]


def test_reembed_moves_confirmed_negatives_to_the_configured_model():
    faq = make_store()
    negative = pending_negative(faq)
    negatives_confirm(negative_ids=[negative.pk])
    NegativeExample.objects.filter(pk=negative.pk).update(embedding_model="old-model/x==1/384")
    assert faq_lookup(text=WRONGLY_ANSWERED, locale="en").answered, "another model's vector"
    result = embeddings_reembed(batch_size=8)
    assert result.negatives_reembedded == 1
    negative.refresh_from_db()
    assert negative.embedding_model == get_embedder("en").identity
    assert not faq_lookup(text=WRONGLY_ANSWERED, locale="en").answered


def staff_client(*, permissions: list[str]) -> HttpClient:
    user = User.objects.create_user("editor", password="pw", is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = HttpClient()
    client.force_login(user)
    return client


def post_action(client: HttpClient, action: str, negative: NegativeExample):
    return client.post(
        reverse("admin:knowledge_negativeexample_changelist"),
        {"action": action, "_selected_action": [negative.pk]},
    )


def test_the_admin_lists_negatives_by_status_and_refuses_staff_without_change_permission():
    faq = make_store()
    negative = pending_negative(faq)
    viewer = staff_client(permissions=["view_negativeexample"])
    listed = viewer.get(
        reverse("admin:knowledge_negativeexample_changelist"), {"status__exact": "pending"}
    )
    assert listed.status_code == 200
    assert WRONGLY_ANSWERED in listed.content.decode()
    for action in ("confirm", "dismiss"):
        post_action(viewer, action, negative)
        negative.refresh_from_db()
        assert negative.status == NegativeExample.Status.PENDING
        assert negative.embedding is None


def test_an_editor_with_change_permission_confirms_in_the_admin():
    faq = make_store()
    negative = pending_negative(faq)
    editor = staff_client(permissions=["view_negativeexample", "change_negativeexample"])
    response = post_action(editor, "confirm", negative)
    assert response.status_code == 302
    negative.refresh_from_db()
    assert negative.status == NegativeExample.Status.CONFIRMED
    assert negative.embedding_model == get_embedder("en").identity
