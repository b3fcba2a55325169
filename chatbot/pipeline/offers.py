"""The "Did you mean" offers stored with a reply that answers nothing, and an offer taken.

An offer is taken when the visitor asked Q, the reply answered nothing and offered FAQ
X (chatbot.answer_facts.related_questions), and the visitor then asked X's question as offered (a
click, or typed). Q is another way visitors ask X, confirmed by the visitor: it becomes a draft
paraphrase of X (origin `offer`) for a person to approve in the admin, as a handoff's question
does (chatbot.handoff.phrasings); a draft is never matched before it is approved."""

import re

from chatbot.answer_facts import related_questions
from chatbot.models import Message
from chatbot.phrasing_drafts import paraphrase_draft_from_question
from knowledge.documents.lexical import content_tokens
from knowledge.models import Origin, Paraphrase
from knowledge.selectors import faq_questions, normalise_question


def offers_for(*, faq_ids: list[int], locale: str, asked: str = "") -> list[dict[str, object]]:
    """The offers of these FAQs, in their order: the active ones of the locale, with their
    question (read when the reply is stored, not on the way to an answer's first word), less
    those about what the visitor said they do not want."""
    questions = faq_questions(faq_ids=faq_ids, locale=locale)
    refused = refused_subjects(asked)
    return [
        {"faq_id": i, "question": questions[i]}
        for i in faq_ids
        if i in questions and not refused & set(content_tokens(questions[i]))
    ]


# "I don't want a refund, I want an exchange" / "我不要退款，我想换货" was offered "When will I
# get my refund?" / "退款多久能到账？": one click away from the answer the visitor said they did
# not want (a walk). The words right after a negation (and a want / need), as search tokens.
_REFUSED_ENGLISH = re.compile(
    r"\b(?:don['’]?t|do\s+not|doesn['’]?t|does\s+not|not|no|never|without)\s+"
    r"(?:(?:want|need|wish|like|care\s+about)\s+)?(?:(?:to|a|an|the|any|my|your)\s+)?"
    r"([a-z]+(?:\s+[a-z]+)?)",
    re.IGNORECASE,
)
_REFUSED_CHINESE = re.compile(r"(?:不想要|不需要|不要|不想|不用|不是要|别)([\u4e00-\u9fff]{1,4})")


def refused_subjects(text: str) -> set[str]:
    """The search tokens of what `text` says it does not want."""
    phrases = [m.group(1) for m in _REFUSED_ENGLISH.finditer(text)]
    phrases += [m.group(1) for m in _REFUSED_CHINESE.finditer(text)]
    return {token for phrase in phrases for token in content_tokens(phrase)}


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
