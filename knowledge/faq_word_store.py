"""This process's copy of which FAQs and help-centre articles use which words
(knowledge/faq_words.py has the check), per locale, reloaded when the knowledge version changes,
as the negative examples are."""

from collections import defaultdict

from knowledge.faq_words import FaqWords
from knowledge.models import FAQ, AnswerVariant, Chunk, Paraphrase
from knowledge.process_copy import FETCH_ROWS, VersionedCopy, pausing


class FaqWordStore(VersionedCopy):
    """From every active FAQ's question and answer and its approved phrasings and variants, and
    each article's words as its chunks store them (segmented once, when indexed). A store of
    thousands of FAQs takes seconds to segment, so a reload runs behind while the previous copy
    serves."""

    loads_behind = True

    def __init__(self) -> None:
        super().__init__()
        self._by_locale: dict[str, FaqWords] = {}

    def _load(self) -> None:
        texts: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for pk, locale, question, answer in FAQ.objects.filter(active=True).values_list(
            "pk", "locale", "question", "answer"
        ):
            texts[locale] += [(pk, question), (pk, answer)]
        phrasings = Paraphrase.objects.filter(approved=True, faq__active=True)
        variants = AnswerVariant.objects.filter(
            status=AnswerVariant.Status.APPROVED, faq__active=True
        )
        for rows in (phrasings, variants):
            for faq_id, locale, text in rows.values_list("faq_id", "faq__locale", "text"):
                texts[locale].append((faq_id, text))
        articles: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
        chunks = Chunk.objects.values_list("document_id", "document__locale", "search_tokens")
        for document_id, locale, tokens in pausing(chunks.iterator(chunk_size=FETCH_ROWS)):
            articles[locale][document_id].update(tokens.split())
        self._by_locale = {
            locale: FaqWords.of(pausing(pairs), articles[locale].values())
            for locale, pairs in texts.items()
        }

    def foreign(
        self, *, question: str, locale: str, faq_id: int, near_faq_ids: list[int]
    ) -> list[str]:
        words = self._by_locale.get(locale)
        return words.foreign(question, faq_id, near_faq_ids) if words is not None else []


_store: FaqWordStore | None = None


def faq_word_store() -> FaqWordStore:
    global _store
    if _store is None:
        _store = FaqWordStore()
    return _store


def reset_faq_word_store() -> None:
    """Forget this process's copy; tests call it when the database is flushed under it."""
    global _store
    _store = None
