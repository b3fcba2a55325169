"""Draft paraphrases from handoffs: a visitor's question that an agent answered with an FAQ's
approved answer, or linked to an FAQ by hand, is another way visitors ask that FAQ. It becomes a
draft (origin `handoff`, not matched) for a person to approve in the admin, like the phrasings a
model proposes. Questions carrying personal details never become drafts: a phrasing is shown to
editors and, once approved, matched for every visitor."""

from django.db import transaction

from chatbot.cache.pii import is_personal
from chatbot.models import Message
from knowledge import services as knowledge
from knowledge.greetings import strip_greetings
from knowledge.models import FAQ, AnswerVariant, Origin, Paraphrase
from knowledge.selectors import normalise_question

MAX_LENGTH = 500


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


def paraphrase_draft_from_question(*, faq_id: int, question: str) -> Paraphrase | None:
    """A draft paraphrase of the FAQ from the visitor's question, greetings stripped; None when
    the question holds personal details, is too long, or the FAQ already has that wording
    (ignoring case and punctuation), as a draft or approved."""
    text = strip_greetings(question).strip()
    if not text or len(text) > MAX_LENGTH or is_personal(question):
        return None
    faq = FAQ.objects.filter(pk=faq_id).first()
    if faq is None:
        return None
    wanted = normalise_question(text)
    known = faq.paraphrases.values_list("text", flat=True)
    if any(normalise_question(existing) == wanted for existing in known):
        return None
    with transaction.atomic():
        created = knowledge.paraphrases_add(
            faq=faq, texts=[text], origin=Origin.HANDOFF, approved=False
        )
    return created[0] if created else None
