"""The decision thresholds measured for each embedding model (the FAQ stage's MatchPolicy point,
the semantic cache's rule); `operating_point` applies the settings FAQ_MATCH_THRESHOLD,
FAQ_MATCH_MIN_MARGIN, FAQ_MATCH_LONE_THRESHOLD, ANSWER_CACHE_THRESHOLD and ANSWER_CACHE_SUPPORT
when set. Why per model and how each was tuned: docs/faq-format.md, "One model per locale, and
its operating point"."""

from dataclasses import dataclass, replace

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from knowledge.embeddings import get_embedder
from knowledge.matching import MatchPolicy


@dataclass(frozen=True)
class OperatingPoint:
    faq_threshold: float  # support: mean cosine of the best FAQ's two nearest paraphrases
    faq_min_margin: float  # lead of the best FAQ's support over the next FAQ's
    cache_threshold: float  # cosine of the nearest cached question
    measured: str = ""  # the FAQ point's wrong-answer rate where it was measured (translated)
    # An FAQ with one phrasing has no support: its best cosine must reach this (> 1: only exact
    # repeats of it are answered).
    faq_lone_threshold: float = 1.01
    # The cache's support rule (chatbot.cache.selectors, docs/cache.md): the nearest entry serves
    # when this many entries within `cache_support_slack` below the threshold have answers that
    # agree with its answer (cosine >= `cache_same_answer`, itself included), or alone when its
    # own cosine reaches `cache_alone`. 1 / 1.0 / 1.01: the plain threshold.
    cache_support: int = 1
    cache_support_slack: float = 0.0
    cache_same_answer: float = 1.0
    cache_alone: float = 1.01
    # A declined question is offered the FAQs whose best phrasing's cosine reaches this as
    # "Did you mean" questions when the bot has no answer for it (> 1: never); an offer, not an
    # answer: the visitor picks one or none (bench/related_questions.py, docs/faq-format.md).
    faq_related_floor: float = 1.01

    def match_policy(self) -> MatchPolicy:
        return MatchPolicy(self.faq_threshold, self.faq_min_margin, self.faq_lone_threshold)


MEASURED = {
    "all-MiniLM-L6-v2": OperatingPoint(
        faq_threshold=0.815,
        faq_min_margin=0.08,
        cache_threshold=0.84,
        cache_support=3,
        cache_support_slack=0.10,
        cache_same_answer=0.90,
        cache_alone=0.93,
        faq_lone_threshold=0.855,
        faq_related_floor=0.60,
        measured=_(
            "0.20% of answers wrong on CLINC150 test (75-FAQ stores, 5 phrasings each; "
            "0 of 16 stores above 1%), 0 of 24 on the English shop store; FAQs with one "
            "phrasing: 0.93% (6 of 644, all from one mislabelled phrasing), 0 of 15 on the shop "
            "store's questions alone"
        ),
    ),
    "use-multilingual-v3": OperatingPoint(
        faq_threshold=0.8275,
        faq_min_margin=0.08,
        # Tuned as MiniLM's, on the same CLINC150 streams embedded by USE (docs/cache.md).
        cache_threshold=0.91,
        cache_support=3,
        cache_support_slack=0.10,
        cache_same_answer=0.90,
        cache_alone=0.97,
        faq_related_floor=0.60,
        measured=_(
            "0 of 11 answers wrong on the zh-hans shop store's test split (too few answers to "
            "bound the rate below 1%); FAQs with one phrasing answer exact repeats only (no "
            "threshold for them held on CLINC150 test)"
        ),
    ),
}
# A model never measured here (an OpenAI embedding model): MiniLM's point, to be retuned.
UNMEASURED = MEASURED["all-MiniLM-L6-v2"]


def operating_point(locale: str | None = None) -> OperatingPoint:
    """The point for the model embedding `locale`, with the settings' overrides."""
    model = get_embedder(locale).identity.split("/", 1)[0]
    point = MEASURED.get(model, UNMEASURED)
    overrides = {
        "faq_threshold": settings.FAQ_MATCH_THRESHOLD,
        "faq_min_margin": settings.FAQ_MATCH_MIN_MARGIN,
        "faq_lone_threshold": settings.FAQ_MATCH_LONE_THRESHOLD,
        "cache_threshold": settings.ANSWER_CACHE_THRESHOLD,
        "cache_support": settings.ANSWER_CACHE_SUPPORT,
        "faq_related_floor": settings.FAQ_RELATED_FLOOR,
    }
    return replace(point, **{k: v for k, v in overrides.items() if v is not None})
