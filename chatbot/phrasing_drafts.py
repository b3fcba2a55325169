"""Draft paraphrases from what visitors asked: a question an agent answered with an FAQ
(chatbot.handoff.phrasings), or one whose "Did you mean" offer the visitor took
(chatbot.pipeline.offers), is another way visitors ask that FAQ. It becomes a draft (not matched)
for a person to approve in the admin. Questions carrying personal details never become drafts: a
phrasing is shown to editors and, once approved, matched for every visitor."""

from django.db import transaction

from chatbot.cache.pii import is_personal
from knowledge import services as knowledge
from knowledge.greetings import strip_greetings
from knowledge.models import FAQ, Origin, Paraphrase
from knowledge.selectors import normalise_question

MAX_LENGTH = 500


def paraphrase_draft_from_question(
    *, faq_id: int, question: str, origin: str = Origin.HANDOFF
) -> Paraphrase | None:
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
        created = knowledge.paraphrases_add(faq=faq, texts=[text], origin=origin, approved=False)
    return created[0] if created else None
