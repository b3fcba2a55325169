"""The FAQ stage's word check: a question that uses a word of another, nearby FAQ's subject, a
word the matched FAQ never uses, is declined, however close its embedding came.

Seen in a QA walk of the demo store: "how many days until the refund shows in my bank after
cancelling" got "When will I get my refund?" (the refund after a *return*), "How long does
international delivery take…" got the domestic rates. Cosine similarity sees the shared topic;
the qualifier that changes the answer ("cancelling", "international") is a word the store uses
only for another FAQ, one among the question's nearest. Measured on CLINC150, the shop sets and
the walk's questions before it was adopted: docs/faq-format.md, "The word check"."""

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from knowledge.documents.lexical import Tokenizer

# Words, not search tokens: stop words of both languages dropped, Snowball stems, jieba's plain
# cut without character bigrams (a bigram is rarely a word of its own).
WORD_TOKENIZER = Tokenizer(english_stopwords=True, bigrams=False, search_mode=False)
# A word only this many FAQs use is their subject; one used more widely ("order", "account")
# says nothing about which FAQ a question asks. Two caught more of the walk's wrong answers
# ("express" is also American Express, "gift" also the payment FAQ's gift cards) but cost a
# quarter of the answers on CLINC150's single-business stores (docs/faq-format.md).
MAX_OWNERS = 1
# A word the help centre uses that at most this many FAQs and articles use in all is a special
# case the FAQ's answer leaves out ("public holidays", "pre-order", "the last Thursday": the
# articles give their own rules): a second walk's wrong answers (docs/faq-format.md).
MAX_RARE_SOURCES = 2
OTHER_FAQ_WORDS = "other_faq_words"  # the decision when the check declines a match


def words(text: str) -> frozenset[str]:
    return frozenset(WORD_TOKENIZER.tokenize(text))


@dataclass(frozen=True)
class FaqWords:
    """Which FAQs use each word, from each FAQ's question, phrasings and answers, and how many
    help-centre articles do."""

    owners: Mapping[str, frozenset[int]]
    articles: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(
        cls, texts: Iterable[tuple[int, str]], article_words: Iterable[Iterable[str]] = ()
    ) -> "FaqWords":
        """From (FAQ id, text) pairs (a FAQ's question, approved phrasings and answers) and
        each article's words (the tokens stored with its chunks)."""
        owners: dict[str, set[int]] = defaultdict(set)
        for faq_id, text in texts:
            for word in words(text):
                owners[word].add(faq_id)
        articles = Counter(word for article in article_words for word in set(article))
        return cls({word: frozenset(faqs) for word, faqs in owners.items()}, articles)

    def foreign(self, question: str, faq_id: int, near_faq_ids: Sequence[int]) -> list[str]:
        """The question's words that `faq_id` never uses and that either at most MAX_OWNERS
        other FAQs use, one of them among `near_faq_ids` (the FAQs of the question's nearest
        phrasings), or the help centre uses with at most MAX_RARE_SOURCES FAQs and articles
        using it in all."""
        near = set(near_faq_ids)
        found = []
        for word in sorted(words(question)):
            owners = self.owners.get(word, frozenset())
            if faq_id in owners:
                continue
            articles = self.articles.get(word, 0)
            another_faqs = bool(owners & near) and len(owners) <= MAX_OWNERS
            special_case = articles > 0 and len(owners) + articles <= MAX_RARE_SOURCES
            if another_faqs or special_case:
                found.append(word)
        return found
