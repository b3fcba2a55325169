""" "Save as FAQ draft" keeps greetings, the visitor's name and personal details out of the FAQ
(it used to copy "Hi Alice, …" into the answer), proposes the draft for the agent to edit, and
refuses an edit that still holds personal details."""

import json

import pytest
from django.test import Client

from chatbot.handoff.faq_draft import PLACEHOLDER, faq_draft_propose
from chatbot.models import Conversation, Message
from knowledge.models import FAQ
from tests.handoff.conftest import make_agent

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("question", "answer", "others", "expected_question", "expected_answer"),
    [
        (
            "Hi, I'm Alice. How do I return a parcel?",
            "Hi Alice, you can return it within 30 days. Thanks Alice!",
            [],
            "How do I return a parcel?",
            "You can return it within 30 days. Thanks!",
        ),
        (
            "Hello! My name is Bob Stone, my email is bob@example.com. Can I change my delivery "
            "address?",
            "Hello Bob, yes: until it ships. We'll write to bob@example.com or call "
            "+44 20 7946 0958.",
            [],
            "Can I change my delivery address?",
            f"Yes: until it ships. We'll write to {PLACEHOLDER} or call {PLACEHOLDER}.",
        ),
        (
            "您好，我叫王小明，怎么申请退款？",
            "王先生，您好！在订单页面点击“申请退款”即可。",
            [],
            "怎么申请退款？",
            "在订单页面点击“申请退款”即可。",
        ),
        (
            "Can I pay by invoice?",
            "Dear Sam: yes, for orders over 100 euros, Sam.",
            ["hey, this is Sam"],
            "Can I pay by invoice?",
            "Yes, for orders over 100 euros.",
        ),
        (
            "Can I change my delivery address?",
            "Yes, until the parcel ships.",
            [],
            "Can I change my delivery address?",
            "Yes, until the parcel ships.",
        ),
    ],
)
def test_the_proposal_has_no_greeting_name_or_personal_detail(
    question, answer, others, expected_question, expected_answer
):
    draft = faq_draft_propose(question=question, answer=answer, visitor_texts=others)
    assert (draft.question, draft.answer) == (expected_question, expected_answer)


def test_a_question_that_is_only_personal_is_marked_not_kept():
    draft = faq_draft_propose(
        question="Where is order DD88776655?", answer="It left today.", visitor_texts=[]
    )
    assert "DD88776655" not in draft.question and PLACEHOLDER in draft.question
    assert "reference" in draft.removed or "identifier" in draft.removed


def _reply(question: str, answer: str) -> Message:
    conversation = Conversation.objects.create()
    Message.objects.create(conversation=conversation, role="visitor", text=question)
    return Message.objects.create(conversation=conversation, role="agent", text=answer)


def test_one_click_saves_the_cleaned_draft_and_an_edit_with_personal_data_is_refused():
    ann = make_agent("ann")
    client = Client()
    client.force_login(ann)
    reply = _reply(
        "Hi, I'm Alice. How do I return a parcel?", "Hi Alice, you can return it within 30 days."
    )
    url = f"/console/messages/{reply.pk}/faq-draft/"
    preview = client.get(url).json()
    assert preview == {
        "question": "How do I return a parcel?",
        "answer": "You can return it within 30 days.",
        "locale": "en",
        "removed": ["greeting", "name"],
    }
    refused = client.post(
        url,
        json.dumps({"question": preview["question"], "answer": "Mail alice@example.com."}),
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert refused.json() == {"error": "personal", "kinds": ["email"]}
    placeholder = client.post(
        url,
        json.dumps({"question": preview["question"], "answer": f"Call {PLACEHOLDER}."}),
        content_type="application/json",
    )
    assert placeholder.json() == {"error": "personal", "kinds": ["placeholder"]}
    assert not FAQ.objects.exists()

    edited = client.post(
        url,
        json.dumps({"question": preview["question"], "answer": "Within 30 days, free."}),
        content_type="application/json",
    )
    assert edited.status_code == 201
    assert FAQ.objects.get().answer == "Within 30 days, free."

    # The one-click POST (no body) saves the proposal, never the name.
    other = _reply("Hey, I'm Alice. Do you ship to Norway?", "Hello Alice, yes we do, Alice.")
    assert client.post(f"/console/messages/{other.pk}/faq-draft/").status_code == 201
    faq = FAQ.objects.get(question="Do you ship to Norway?")
    assert faq.answer == "Yes we do." and not faq.active
