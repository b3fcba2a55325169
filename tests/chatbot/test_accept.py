"""Accepting a visitor message is one short trip to the database: store, route, and read what
the answer needs; a resend or a request for a person is stored but not answered."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chatbot import services
from chatbot.handoff.services import visitor_message_accept
from chatbot.models import Conversation, Message

pytestmark = pytest.mark.django_db


def statements(queries: CaptureQueriesContext) -> list[str]:
    """The SQL run, savepoints left out (they cost no planning)."""
    return [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]


def test_a_new_question_is_stored_routed_and_its_turn_read_in_three_statements():
    conversation = services.conversation_start(locale="en")
    services.visitor_message_store(conversation=conversation, client_id="a", text="Hi there")
    with CaptureQueriesContext(connection) as queries:
        accepted = visitor_message_accept(
            conversation=conversation, client_id="b", text="Where is my parcel?"
        )
    assert len(statements(queries)) == 3, statements(queries)
    assert accepted.created and accepted.answer
    assert accepted.turn is not None
    turn = accepted.turn.turn
    assert (turn.message_id, turn.text, turn.locale) == (
        accepted.message.id,
        "Where is my parcel?",
        "en",
    )
    assert [(h.role, h.text) for h in turn.history] == [("visitor", "Hi there")]
    assert accepted.turn.conversation_id == conversation.pk
    conversation.refresh_from_db()
    assert conversation.last_visitor_message_at is not None
    assert conversation.updated_at >= accepted.message.created_at


def test_a_resend_is_not_stored_twice_and_is_answered_only_if_never_answered():
    conversation = services.conversation_start(locale="en")
    first = visitor_message_accept(conversation=conversation, client_id="x", text="Hello?")
    again = visitor_message_accept(conversation=conversation, client_id="x", text="Hello?")
    assert (again.created, again.answer, again.turn) == (False, True, None)
    assert again.message.id == first.message.id
    services.bot_message_store(
        conversation_id=conversation.pk,
        reply_to_id=first.message.id,
        text="Hi!",
        source="faq",
        trace={},
    )
    answered = visitor_message_accept(conversation=conversation, client_id="x", text="Hello?")
    assert (answered.created, answered.answer) == (False, False)
    assert Message.objects.filter(client_id="x").count() == 1


def test_asking_for_a_person_is_stored_and_queued_not_answered():
    conversation = services.conversation_start(locale="en")
    accepted = visitor_message_accept(
        conversation=conversation, client_id="p", text="I want to talk to a human"
    )
    assert (accepted.created, accepted.answer, accepted.turn) == (True, False, None)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.QUEUED
