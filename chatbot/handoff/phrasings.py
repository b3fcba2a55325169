"""Draft paraphrases from handoffs: a visitor's question that an agent answered with an FAQ's
approved answer, or linked to an FAQ by hand, is another way visitors ask that FAQ. It becomes a
draft (origin `handoff`, not matched) for a person to approve in the admin, like the phrasings a
model proposes (chatbot.phrasing_drafts, which also keeps the questions whose "Did you mean"
offer the visitor took)."""

from chatbot.models import Message
from chatbot.phrasing_drafts import paraphrase_draft_from_question
from knowledge.models import AnswerVariant, Paraphrase


def faq_answered_with(*, text: str, locale: str) -> int | None:
    """The FAQ whose approved answer `text` is (an agent picked it from the canned replies),
    when exactly one FAQ of the locale has it."""
    faq_ids = set(
        AnswerVariant.objects.filter(
            text=text.strip(),
            status=AnswerVariant.Status.APPROVED,
            faq__active=True,
            faq__locale=locale,
        ).values_list("faq_id", flat=True)
    )
    return faq_ids.pop() if len(faq_ids) == 1 else None


def visitor_question_before(*, conversation_id: int, message_id: int | None) -> Message | None:
    """The visitor's last message before `message_id` (before now when None)."""
    messages = Message.objects.filter(conversation_id=conversation_id, role=Message.Role.VISITOR)
    if message_id is not None:
        messages = messages.filter(id__lt=message_id)
    return messages.order_by("-id").first()


def paraphrase_draft_from_reply(*, reply: Message, locale: str) -> Paraphrase | None:
    """When an agent's reply is an FAQ's approved answer, the visitor's question before it as a
    draft paraphrase of that FAQ (see `paraphrase_draft_from_question`)."""
    faq_id = faq_answered_with(text=reply.text, locale=locale)
    if faq_id is None:
        return None
    question = visitor_question_before(conversation_id=reply.conversation_id, message_id=reply.pk)
    if question is None:
        return None
    return paraphrase_draft_from_question(faq_id=faq_id, question=question.text)
