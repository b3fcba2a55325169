"""Every `make bench` section's PASS / FAIL comes from its measured figures: each verdict
function is given figures on both sides of its target (no benchmark is run)."""

import pytest

from bench import verdicts
from bench.cache import cache_verdicts
from bench.pg_lookup import pg_verdicts
from bench.router import cost_verdicts, ttft_verdicts
from bench.run import faq_quality_verdicts, loadtest_verdict, stage_latency_verdict
from bench.verdicts import Verdict


def words(checked: list[Verdict]) -> list[str]:
    return [v.word for v in checked]


def test_a_verdict_line_names_the_target_and_the_measured_figure():
    verdict = stage_latency_verdict("somewhere", {"p50": 4.0, "p99": 12.5})
    assert verdict.passed is True
    assert verdict.line() == (
        "**PASS** — target: somewhere: p50 <= 10 ms and p99 <= 25 ms; "
        "measured: p50 4.00 ms, p99 12.50 ms."
    )
    assert verdicts.load(verdicts.dump([verdict])) == [verdict], "through a module's JSON"


@pytest.mark.parametrize(
    ("p50", "p99", "word"),
    [(10.0, 25.0, "PASS"), (10.01, 8.0, "FAIL"), (3.0, 25.5, "FAIL")],
)
def test_the_stage_latency_target_holds_at_both_percentiles(p50, p99, word):
    assert stage_latency_verdict("x", {"p50": p50, "p99": p99}).word == word


def test_a_section_fails_on_a_fail_or_without_any_verdict_but_not_on_an_unmeasured_one():
    ok, bad = Verdict("t", "m", True), Verdict("t", "m", False)
    unmeasured = Verdict("t", "not measured", None)
    assert not verdicts.failed([ok, unmeasured])
    assert verdicts.failed([ok, bad])
    assert verdicts.failed([])
    assert unmeasured.word == "NOT MEASURED"


def quality_report(wrong_per_answered: float, wrong_per_total: float, coverage: float) -> dict:
    rates = {
        "wrong_per_answered": wrong_per_answered,
        "wrong_per_total": wrong_per_total,
        "coverage": coverage,
    }
    return {"default": {"test": rates}, "chosen": {"test": {"wrong_per_answered": 0.0}}}


def test_faq_quality_is_judged_on_the_shipped_operating_point_per_answer_and_per_question():
    assert words(faq_quality_verdicts(quality_report(0.0045, 0.0002, 0.31))) == ["PASS", "PASS"]
    assert words(faq_quality_verdicts(quality_report(0.0045, 0.0002, 0.0975))) == [
        "PASS",
        "FAIL",
    ], "too few phrasings recognised"
    assert words(faq_quality_verdicts(quality_report(0.0101, 0.0002, 0.5))) == ["FAIL"] * 2
    assert words(faq_quality_verdicts(quality_report(0.005, 0.011, 0.5))) == ["FAIL"] * 2


def test_the_shipped_point_is_judged_on_the_store_of_look_alike_intents_too():
    def close(wrong: int, answered: int) -> dict:
        test = {"wrong": wrong, "answered": answered, "wrong_per_answered": wrong / answered,
                "coverage": 0.09}  # fmt: skip
        return quality_report(0.0045, 0.0002, 0.31) | {
            "close_intents": {"intents": ["a"] * 50, "default": {"test": test}}
        }

    assert words(faq_quality_verdicts(close(1, 139))) == ["PASS"] * 3
    assert words(faq_quality_verdicts(close(2, 150))) == ["PASS", "PASS", "FAIL"]
    assert "2/150" in faq_quality_verdicts(close(2, 150))[2].measured


def test_the_shipped_point_is_judged_on_single_business_stores_too():
    def single_business(wrong: int, answered: int) -> dict:
        test = {"wrong": wrong, "answered": answered, "wrong_per_answered": wrong / answered,
                "coverage": 0.09}  # fmt: skip
        default = {"test": test, "stores_within": 46, "stores": 50}
        return quality_report(0.0045, 0.0002, 0.31) | {"domains": {"faqs": 10, "default": default}}

    assert words(faq_quality_verdicts(single_business(4, 1332))) == ["PASS"] * 3
    assert words(faq_quality_verdicts(single_business(14, 1332))) == ["PASS", "PASS", "FAIL"]
    assert "46 of 50 stores" in faq_quality_verdicts(single_business(4, 1332))[2].measured


def loadtest_run(*, lost: int = 0, faq_p99: float = 17.9, cache_p99: float | None = 16.6) -> dict:
    by_source = {"faq": {"ttft_ms": {"p99": faq_p99}}, "llm": {"ttft_ms": {"p99": 900.0}}}
    if cache_p99 is not None:
        by_source["cache"] = {"ttft_ms": {"p99": cache_p99}}
    return {"sessions": {"planned": 200}, "messages": {"lost": lost}, "by_source": by_source}


def test_the_load_test_needs_nothing_lost_and_stored_answers_in_time_whatever_the_model_does():
    verdict = loadtest_verdict(loadtest_run(), "2-8 s")
    assert verdict.passed is True, "the model's own first token is not part of the target"
    assert verdict.measured == "0 lost, faq p99 17.9 ms, cache p99 16.6 ms"
    assert loadtest_verdict(loadtest_run(lost=1), "2-8 s").word == "FAIL"
    assert loadtest_verdict(loadtest_run(cache_p99=50.1), "2-8 s").word == "FAIL"
    assert loadtest_verdict(loadtest_run(faq_p99=50.0, cache_p99=None), "2-8 s").word == "PASS"
    no_stored = loadtest_run() | {"by_source": {}}
    assert loadtest_verdict(no_stored, "2-8 s").word == "FAIL", "nothing measured is no pass"


def ttft_figures(vs_aiohttp: float, vs_httpx: float) -> dict:
    added = {"sdk_aiohttp": vs_aiohttp, "sdk_httpx": vs_httpx, "client": 0.3}
    return {"requests": 300, "memory": {"added_p50_ms": added}}


def test_router_overhead_is_judged_against_the_sdk_on_either_http_stack():
    assert words(ttft_verdicts(ttft_figures(-0.3, -1.0))) == ["PASS", "PASS"]
    # the 40 ms: our client and the SDK over aiohttp on reused connections, httpx on fresh ones
    assert words(ttft_verdicts(ttft_figures(0.1, 40.4))) == ["PASS", "FAIL"]
    assert words(ttft_verdicts(ttft_figures(5.01, 4.0))) == ["FAIL", "PASS"]
    with_redis = ttft_figures(0.1, 0.2) | {"redis": ttft_figures(6, 6)["memory"]}
    assert words(ttft_verdicts(with_redis)) == ["PASS", "PASS", "FAIL", "FAIL"]


def cost_figures(strong_answers: int, saving: float) -> dict:
    routed = {"strong_answers": strong_answers, "hard": 12, "answers": 60}
    return {"routed": routed, "saving": saving}


def test_routing_sends_exactly_the_hard_questions_to_strong_and_saves_at_least_half():
    assert words(cost_verdicts(cost_figures(12, 0.70))) == ["PASS", "PASS"]
    assert words(cost_verdicts(cost_figures(13, 0.69))) == ["FAIL", "PASS"]
    assert words(cost_verdicts(cost_figures(12, 0.49))) == ["PASS", "FAIL"]


CACHE_STREAMS = ("clinc_test", "stress_test", "domains_test")


def cache_figures(**changes: dict) -> dict:
    good = {"wrong_per_hit": 0.0077, "wrong_hits": 4, "hits": 520, "hit_rate": 0.31}
    figures = {
        "rules": {
            stream: {
                "support": good | {"wrong_per_hit_upper95": 0.02},
                "today": good | changes.pop(f"{stream}_today", {}),
            }
            for stream in CACHE_STREAMS
        },
        "end_to_end": {
            "hits": 12,
            "wrong_hits": 0,
            "simulated_hits": 12,
            "simulated_wrong_hits": 0,
        },
        "stampede": {"visitors": 50, "upstream_calls": 1},
        "latency": {"entries": 100_000, "lookup_p50_ms": 5.98},
        "use_rules": {
            stream: good | {"wrong_per_hit_upper95": 0.02} | changes.pop(f"{stream}_use", {})
            for stream in (*CACHE_STREAMS, "shop_zh_dense")
        },
    }
    for stream in CACHE_STREAMS:
        figures["rules"][stream]["support"] |= changes.pop(stream, {})
    for part, values in changes.items():
        figures[part] = figures[part] | values
    return figures


def test_cache_verdicts_follow_each_figure():
    """Per stream: the shipped rule's wrong budget, its hit target, today's hit target; the
    zh-hans point's wrong budget per stream; then end to end, stampede, latency."""
    assert words(cache_verdicts(cache_figures())) == ["PASS"] * 16
    over_budget = cache_figures(stress_test={"wrong_per_hit": 0.0263})
    assert words(cache_verdicts(over_budget))[3:6] == ["FAIL", "FAIL", "PASS"], (
        "hits beyond the wrong budget do not count"
    )
    failing = {
        1: cache_figures(clinc_test={"hit_rate": 0.211}),
        2: cache_figures(clinc_test_today={"wrong_per_hit": 0.0198}),
        6: cache_figures(domains_test={"wrong_per_hit": 0.0117}),
        10: cache_figures(stress_test_use={"wrong_per_hit": 0.0213}),
        12: cache_figures(shop_zh_dense_use={"wrong_per_hit": 0.0417}),
        13: cache_figures(end_to_end={"hits": 11}),
        14: cache_figures(stampede={"upstream_calls": 2}),
        15: cache_figures(latency={"lookup_p50_ms": 10.5}),
    }
    for which, figures in failing.items():
        expected = ["PASS"] * 16
        expected[which] = "FAIL"
        if which == 6:
            expected[7] = "FAIL"  # over the budget: its hits do not count either
        assert words(cache_verdicts(figures)) == expected


def pg_size(*, full_p50: float = 6.4, same: float = 1.0, right: int = 495) -> dict:
    return {
        "latency_ms": {"hnsw": {"full": {"p50": full_p50, "p99": 11.8}}},
        "same_answer_as_memory": {"hnsw": same},
        "repeats": {"asked": 500, "answered_with_their_faq": {"hnsw": right, "memory": 500}},
    }


def test_pgvector_verdicts_per_size_latency_and_answers_as_exact_search_gives():
    report = {"sizes": {"1000": pg_size(), "100000": pg_size(same=0.99)}}
    assert words(pg_verdicts(report)) == ["PASS"] * 6
    report = {"sizes": {"100000": pg_size(full_p50=10.2, same=0.985, right=494)}}
    assert words(pg_verdicts(report)) == ["FAIL"] * 3


def shop_report(zh: tuple[float, float], en: tuple[float, float]) -> dict:
    def rules(coverage: float, wrong: float) -> dict:
        test = {"coverage": coverage, "wrong_per_answered": wrong, "wrong": 0, "answered": 10}
        return {"rules": {"shipped": {"test": test}}}

    return {"zh-hans": rules(*zh), "en": rules(*en)}


def test_shop_verdicts_want_chinese_right_and_within_80_percent_of_english():
    from bench.shop_matching import verdicts as shop_verdicts

    assert words(shop_verdicts(shop_report((0.15, 0.0), (0.178, 0.0)))) == ["PASS", "PASS"]
    assert words(shop_verdicts(shop_report((0.082, 0.0), (0.178, 0.0)))) == ["PASS", "FAIL"]
    assert words(shop_verdicts(shop_report((0.3, 0.02), (0.178, 0.0)))) == ["FAIL", "FAIL"]
    assert words(shop_verdicts(shop_report((0.3, 0.0), (0.35, 0.05)))) == ["PASS", "FAIL"]
