"""bench.content_change fills a store, times FAQ lookups with and without content changes for
both ways of reloading, and states its verdict from the figures. Runs on a tiny store and
checks the report's shape and the verdict's arithmetic, never the timings."""

import numpy as np
import pytest

from bench import content_change
from knowledge.models import Chunk, Paraphrase

pytestmark = pytest.mark.django_db(transaction=True)  # the copies load on threads of their own


def test_both_ways_are_measured_over_the_same_store_and_judged_on_the_shipped_one():
    stored = content_change.fill(np.random.default_rng(0), faqs=4, documents=3)
    assert Paraphrase.objects.count() == len(stored) == 4 * content_change.PARAPHRASES_PER_FAQ
    assert Chunk.objects.count() == 3 * content_change.CHUNKS_PER_DOCUMENT

    figures = content_change.measure(2, stored, behind_ms=0)

    lookups = 2 * content_change.LOOKUPS_PER_ROUND
    for name in ("in_the_caller", "behind"):
        assert figures[name]["lookup"]["n"] == figures[name]["quiet_lookup"]["n"] == lookups
        assert figures[name]["retrieval"]["n"] == 2
        assert set(figures[f"{name}_load_ms"]) == {"InMemoryIndex", "InMemoryChunkIndex"}
    [verdict] = content_change.verdicts(figures)
    assert verdict.passed == (figures["behind"]["lookup"]["p99"] <= content_change.TARGET_P99_MS)
    figures["behind"]["lookup"]["p99"] = content_change.TARGET_P99_MS + 1
    assert content_change.verdicts(figures)[0].passed is False
    report = content_change.markdown(figures)
    assert "(before, baseline)" in report and "(shipped)" in report and "FAIL" in report
