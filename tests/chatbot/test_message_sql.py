"""The hand-written statements of the message path store and read exactly what the ORM would."""

import pytest
from django.utils import timezone

from chatbot import message_sql, services
from chatbot.models import Conversation, Message

pytestmark = pytest.mark.django_db


def test_an_inserted_message_reads_back_through_the_orm_as_it_was_given():
    conversation = services.conversation_start(locale="en")
    now = timezone.now()
    question = message_sql.message_store(
        conversation_id=conversation.pk, role="visitor", text="Hi", client_id="c1", created_at=now
    ).id
    trace = {"source": "faq", "steps": [{"stage": "faq", "score": 0.93}], "text": "naïve 你好"}
    answer = message_sql.message_store(
        conversation_id=conversation.pk,
        role="bot",
        text="Hello!",
        reply_to_id=question,
        source="faq",
        trace=trace,
        created_at=now,
    ).id
    stored = Message.objects.get(pk=answer)
    assert (stored.role, stored.text, stored.source, stored.trace) == (
        "bot",
        "Hello!",
        "faq",
        trace,
    )
    assert stored.reply_to_id == question
    assert stored.created_at == now
    assert Message.objects.get(pk=question).client_id == "c1"
    assert Message.objects.get(pk=question).trace == {}


def test_a_second_message_with_the_same_client_id_is_skipped_not_an_error():
    conversation = services.conversation_start(locale="en")

    def store() -> Message | None:
        return message_sql.message_store(
            conversation_id=conversation.pk,
            role="visitor",
            text="Hi",
            client_id="same",
            created_at=timezone.now(),
            skip_duplicate=True,
        )

    first, again = store(), store()
    assert first is not None and again is None
    assert conversation.messages.count() == 1


def test_the_conversation_is_touched_only_while_it_has_the_expected_status():
    conversation = services.conversation_start(locale="en")
    later = timezone.now() + timezone.timedelta(minutes=5)
    assert message_sql.conversation_touch_if(
        conversation_id=conversation.pk, status="bot", now=later, visitor_wrote=True
    )
    conversation.refresh_from_db()
    assert conversation.updated_at == later == conversation.last_visitor_message_at
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.QUEUED)
    even_later = later + timezone.timedelta(minutes=5)
    assert not message_sql.conversation_touch_if(
        conversation_id=conversation.pk, status="bot", now=even_later, visitor_wrote=False
    )
    conversation.refresh_from_db()
    assert conversation.updated_at == later


def test_recent_turns_are_the_last_ones_before_the_message_oldest_first_without_system():
    conversation = services.conversation_start(locale="en")
    ids = []
    for n, role in enumerate(["visitor", "bot", "system", "agent", "visitor", "bot", "visitor"]):
        ids.append(
            message_sql.message_store(
                conversation_id=conversation.pk,
                role=role,
                text=f"m{n}",
                created_at=timezone.now(),
            ).id
        )
    assert message_sql.recent_turns(conversation_id=conversation.pk, before_id=ids[6], limit=3) == [
        ("agent", "m3"),
        ("visitor", "m4"),
        ("bot", "m5"),
    ]
    assert (
        message_sql.recent_turns(conversation_id=conversation.pk, before_id=ids[0], limit=3) == []
    )


def test_the_message_returned_for_a_new_row_behaves_as_a_saved_one():
    conversation = services.conversation_start(locale="en")
    message, created = services.visitor_message_insert(
        conversation=conversation, client_id="x", text="Hello"
    )
    assert created
    assert not message._state.adding
    assert services.message_payload(message) == services.message_payload(
        Message.objects.get(pk=message.pk)
    )
