"""The "Did you mean" offers stored with a reply that answers nothing, and an offer taken.

An offer is taken when the visitor asked Q, the reply answered nothing and offered FAQ
X (chatbot.answer_facts.related_questions), and the visitor then asked X's question as offered (a
click, or typed). Q is another way visitors ask X, confirmed by the visitor: it becomes a draft
paraphrase of X (origin `offer`) for a person to approve in the admin, as a handoff's question
does (chatbot.handoff.phrasings); a draft is never matched before it is approved."""

from chatbot.answer_facts import related_questions
from chatbot.models import Message
from chatbot.phrasing_drafts import paraphrase_draft_from_question
from knowledge.models import Origin, Paraphrase
from knowledge.selectors import faq_questions, normalise_question


def offers_for(*, faq_ids: list[int], locale: str) -> list[dict[str, object]]:
    """The offers of these FAQs, in their order: the active ones of the locale, with their
    question (read when the reply is stored, not on the way to an answer's first word)."""
    questions = faq_questions(faq_ids=faq_ids, locale=locale)
    return [{"faq_id": i, "question": questions[i]} for i in faq_ids if i in questions]


def offer_taken(*, message_id: int, faq_id: int, text: str) -> Paraphrase | None:
    """When the visitor message `message_id` (`text`, answered with FAQ `faq_id`) took the
    offer of the bot reply before it: marks that reply's offer taken (for the dashboard) and
    returns the draft paraphrase (None when the FAQ has that phrasing already). None otherwise."""
    conversation_id = (
        Message.objects.filter(pk=message_id).values_list("conversation_id", flat=True).first()
    )
    offer = (
        Message.objects.filter(
            conversation_id=conversation_id, role=Message.Role.BOT, id__lt=message_id
        )
        .order_by("-id")
        .only("trace", "reply_to_id")
        .first()
    )
    if offer is None or offer.reply_to_id is None:
        return None
    wanted = normalise_question(text)
    if not any(
        related["faq_id"] == faq_id and normalise_question(related["question"]) == wanted
        for related in related_questions(offer.trace or {})
    ):
        return None
    Message.objects.filter(pk=offer.pk).update(offer_taken=True)
    question = Message.objects.filter(pk=offer.reply_to_id).values_list("text", flat=True).first()
    if question is None:
        return None
    return paraphrase_draft_from_question(faq_id=faq_id, question=question, origin=Origin.OFFER)
