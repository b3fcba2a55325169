"""A tier whose latest answers given help-centre sources were all ungrounded (and so thrown away
under LLM_UNGROUNDED `suggest` or `replace`) is not asked such questions for a while: the visitor
gets the suggested articles at once instead of after the model's wait. One question per probe
interval still asks it, and a grounded answer ends the skipping."""

import re
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.urls import reverse
from django.utils import timezone

from chatbot import visitor_copy
from chatbot.answer_facts import Grounding, answer_facts, model_words_replaced
from chatbot.answer_trace import Trace
from chatbot.llm.retry import RetryPolicy
from chatbot.llm.router import Router, RouterPolicy
from chatbot.llm.simulator import Faults
from chatbot.llm.tiers import parse_tiers
from chatbot.models import Conversation, Message
from chatbot.outcomes import Decision
from chatbot.pipeline.base import DoneEvent, Turn
from chatbot.pipeline.cache_stage import reusable
from chatbot.pipeline.fallback_stage import FallbackStage
from chatbot.pipeline.grounding import UngroundedPolicy
from chatbot.pipeline.grounding_report import (
    StoredGroundings,
    grounding_by_model,
    stored_groundings,
)
from chatbot.pipeline.llm_stage import LLMStage
from chatbot.pipeline.orchestrator import run_pipeline
from chatbot.pipeline.output_filter import OutputCheck
from chatbot.pipeline.registry import configured_stages, process_ungrounded_tiers
from chatbot.pipeline.ungrounded_tiers import UngroundedTiers
from tests.llm.conftest import tier_config
from tests.llm.test_grounding import RETURNS, SHIPPING, _retrieval, _retrieve
from tests.llm.test_output_filter import check as output_check

AFTER, PROBE_S = 3, 600.0


def _tiers(sims, *names: str):
    return tuple(t for t in parse_tiers(tier_config(sims)) if t.name in names)


def _stage(sims, record: UngroundedTiers, *names: str, **options) -> LLMStage:
    router = Router(_tiers(sims, *names), RouterPolicy(retry=RetryPolicy(max_per_message=0)))
    return LLMStage(
        router,
        system_prompt="You are a shop assistant.",
        history_budget=600,
        retrieve=_retrieve(_retrieval(RETURNS, SHIPPING)),
        ungrounded_tiers=record,
        **options,
    )


async def _ask(stage: LLMStage, text: str = "How long do I have to return shoes?") -> DoneEvent:
    events = [e async for e in run_pipeline(Turn("c", 1, text, "en"), [stage], Trace())]
    assert isinstance(events[-1], DoneEvent)
    return events[-1]


async def test_a_tier_that_never_cites_is_left_out_until_its_probe_is_due(sims, clock):
    sims["local"].reset(Faults(sources="ignore"))
    record = UngroundedTiers(AFTER, PROBE_S, clock=clock)
    stage = _stage(sims, record, "local")
    suggest = visitor_copy.render(visitor_copy.SUGGEST_ARTICLES, "en")
    for asked in range(1, AFTER + 1):
        done = await _ask(stage)
        assert done.text == suggest
        assert sims["local"].stats.requests == asked, "asked while it may still ground"

    skipped = await _ask(stage)
    assert sims["local"].stats.requests == AFTER, "not asked: its answer would be replaced"
    assert skipped.text == suggest
    assert [c.title for c in skipped.citations] == ["Returns and refunds", "Shipping"]
    assert all(c.suggested for c in skipped.citations)
    step = skipped.trace.answering_step()
    assert step.decision == Decision.NOT_GROUNDING
    assert step.detail["left_out"] == ["local"]
    trace = skipped.trace.to_dict()
    assert answer_facts(trace).grounding == Grounding.NOT_ASKED, "not counted as a model answer"
    assert model_words_replaced(trace), "labelled an automatic reply"
    assert not reusable(skipped), "never cached"

    clock.advance(PROBE_S)
    sims["local"].reset()  # the model cites now: the probe finds out
    probed = await _ask(stage)
    assert sims["local"].stats.requests == 1
    assert probed.trace.answering_step().detail["grounded"] is True
    assert probed.citations and not probed.citations[0].suggested
    again = await _ask(stage)
    assert sims["local"].stats.requests == 2, "a grounded answer ends the skipping"
    assert again.trace.answering_step().decision == Decision.ANSWERED


async def test_a_model_that_makes_up_links_is_left_out_like_one_that_never_cites(sims, clock):
    """The output filter stops an answer given sources for a link no source gives: the visitor
    gets the suggested articles, and the model's record counts the answer as ungrounded."""
    made_up = "Fill in https://returns.made-up.example/form [1]. We refund within a day."
    sims["local"].reset(Faults(obey={"return shoes": made_up}))

    async def policy(turn: Turn, text: str) -> OutputCheck:
        return output_check()

    stage = _stage(
        sims, UngroundedTiers(AFTER, PROBE_S, clock=clock), "local", output_policy=policy
    )
    suggest = visitor_copy.render(visitor_copy.SUGGEST_ARTICLES, "en")
    for _ in range(AFTER):
        done = await _ask(stage)
        assert done.text == suggest
        step = done.trace.answering_step()
        assert step.detail["blocked"].startswith("unknown_link") and step.model == "local-model"
        assert step.detail["grounded"] is False
    left_out = await _ask(stage)
    assert sims["local"].stats.requests == AFTER, "not asked: its answer would be replaced"
    assert left_out.trace.answering_step().decision == Decision.NOT_GROUNDING


async def test_try_again_asks_the_model_even_when_it_lately_cited_nothing(sims, clock):
    sims["local"].reset(Faults(sources="ignore"))
    stage = _stage(sims, UngroundedTiers(AFTER, PROBE_S, clock=clock), "local")
    for _ in range(AFTER + 1):
        await _ask(stage)
    assert sims["local"].stats.requests == AFTER
    retry = Turn("c", 2, "How long do I have to return shoes?", "en", retry=True)
    events = [e async for e in run_pipeline(retry, [stage], Trace())]
    assert sims["local"].stats.requests == AFTER + 1, "the visitor asked for another answer"
    assert events[-1].trace.answering_step().decision == Decision.ANSWERED


async def test_a_probe_that_is_still_ungrounded_keeps_the_tier_out(sims, clock):
    sims["local"].reset(Faults(sources="ignore"))
    stage = _stage(sims, UngroundedTiers(AFTER, PROBE_S, clock=clock), "local")
    for _ in range(AFTER + 1):
        await _ask(stage)
    clock.advance(PROBE_S - 1)
    await _ask(stage)
    assert sims["local"].stats.requests == AFTER
    clock.advance(1)
    await _ask(stage)
    await _ask(stage)
    assert sims["local"].stats.requests == AFTER + 1, "one probe per interval, not one per question"


async def test_the_next_tier_answers_when_the_first_never_cites(sims, clock):
    sims["cheap"].reset(Faults(sources="ignore"))
    stage = _stage(sims, UngroundedTiers(AFTER, PROBE_S, clock=clock), "cheap", "local")
    for _ in range(AFTER):
        done = await _ask(stage)
        assert done.trace.answering_step().detail["tier"] == "cheap"
    done = await _ask(stage)
    assert sims["cheap"].stats.requests == AFTER
    assert done.trace.answering_step().detail["tier"] == "local"
    assert done.trace.answering_step().detail["grounded"] is True
    assert [c.title for c in done.citations] == ["Returns and refunds"]
    note = next(s for s in done.trace.steps if s.decision == Decision.NOT_GROUNDING)
    assert note.detail["left_out"] == ["cheap"] and "grounded" not in note.detail


async def test_a_probe_due_for_a_later_tier_waits_until_that_tier_is_asked(sims, clock):
    """The route is cheap, then local: a question cheap answers does not use up local's probe,
    so when cheap is down, local is asked (the probe) rather than left out."""
    sims["local"].reset(Faults(sources="ignore"))
    record = UngroundedTiers(AFTER, PROBE_S, clock=clock)
    for _ in range(AFTER):
        record.record("local", "local-model", "en", False)
    clock.advance(PROBE_S)  # local's probe is due
    stage = _stage(sims, record, "cheap", "local")
    stages = [stage, FallbackStage(queue_unanswered=False)]

    async def ask() -> DoneEvent:
        turn = Turn("c", 1, "How long do I have to return shoes?", "en")
        events = [e async for e in run_pipeline(turn, stages, Trace())]
        return events[-1]

    first = await ask()
    assert first.trace.answering_step().detail["tier"] == "cheap"
    assert sims["local"].stats.requests == 0
    sims["cheap"].reset(Faults(error_rate=1.0))
    probed = await ask()
    assert sims["local"].stats.requests == 1, "local's probe was still due"
    assert probed.trace.answering_step().detail["tier"] == "local"
    await ask()
    assert sims["local"].stats.requests == 1, "the probe answered ungrounded: left out again"


@pytest.mark.parametrize("policy", [UngroundedPolicy.SEND])
async def test_when_ungrounded_answers_go_out_every_question_asks_the_model(sims, clock, policy):
    sims["local"].reset(Faults(sources="ignore"))
    stage = _stage(sims, UngroundedTiers(AFTER, PROBE_S, clock=clock), "local", ungrounded=policy)
    for _ in range(AFTER + 2):
        await _ask(stage)
    assert sims["local"].stats.requests == AFTER + 2


async def test_questions_without_sources_always_reach_the_tier(sims, clock):
    sims["local"].reset(Faults(sources="ignore"))
    record = UngroundedTiers(AFTER, PROBE_S, clock=clock)
    stage = _stage(sims, record, "local")
    for _ in range(AFTER + 1):
        await _ask(stage)
    stage.retrieve = _retrieve(None)  # a locale without a help centre: answered as before
    done = await _ask(stage)
    assert sims["local"].stats.requests == AFTER + 1
    assert done.trace.answering_step().decision == Decision.ANSWERED


async def test_the_record_is_per_model_and_zero_turns_it_off(sims, clock):
    (local,) = _tiers(sims, "local")
    record = UngroundedTiers(2, PROBE_S, clock=clock)
    for grounded in (False, False):
        assert not await record.left_out(local, "en")
        record.record("local", "other-model", "en", grounded)
    assert not await record.left_out(local, "en"), "another model's answers say nothing of this"
    for _ in range(2):
        record.record("local", "local-model", "zh-hans", False)
    assert await record.left_out(local, "zh-hans"), "asked just now: no probe due yet"
    clock.advance(PROBE_S)
    assert not await record.left_out(local, "zh-hans"), "this one probes"
    assert await record.left_out(local, "zh-hans")
    assert not await record.left_out(local, "en"), "it may still cite in another language"
    off = UngroundedTiers(0, PROBE_S, clock=clock)
    for _ in range(5):
        off.record("local", "local-model", "en", False)
    assert not await off.left_out(local, "en")


async def test_a_process_follows_the_stored_answers_of_every_process(sims, clock):
    (local,) = _tiers(sims, "local")
    reads: list[tuple[str, str, str, int]] = []
    newest = {"en": clock() - PROBE_S - 1, "zh-hans": clock() - 60}  # when last answered
    stored = {"en": [False] * AFTER, "zh-hans": [False] * AFTER}

    async def history(tier: str, model: str, locale: str, limit: int):
        reads.append((tier, model, locale, limit))
        return stored[locale][:limit], clock() - newest[locale]

    record = UngroundedTiers(AFTER, PROBE_S, history=history, reread_s=30, clock=clock)
    assert not await record.left_out(local, "en"), "asked over a probe interval ago: probes"
    assert await record.left_out(local, "en")
    assert await record.left_out(local, "zh-hans"), "asked a minute ago: not before its probe"
    assert reads == [
        ("local", "local-model", "en", AFTER),
        ("local", "local-model", "zh-hans", AFTER),
    ]
    stored["en"] = [True, *stored["en"]]  # another process's probe was grounded
    assert await record.left_out(local, "en"), "read again only once reread_s has passed"
    clock.advance(30)
    assert not await record.left_out(local, "en"), "that grounded answer ends the skipping here"
    clock.advance(PROBE_S - 90)
    assert not await record.left_out(local, "zh-hans"), "a probe interval after its last answer"
    assert [locale for _, _, locale, _ in reads] == ["en", "zh-hans", "en", "zh-hans"]


def _stored_answer(
    grounding: str, *, model: str = "m", tier: str = "local", locale: str = "en"
) -> Message:
    conversation = Conversation.objects.filter(locale=locale).first()
    conversation = conversation or Conversation.objects.create(locale=locale)
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.BOT,
        text="…",
        source="llm",
        llm_tier=tier,
        llm_model=model,
        grounding=grounding,
    )


async def test_without_the_stored_answers_the_model_is_asked_until_they_are_read(sims, clock):
    (local,) = _tiers(sims, "local")
    reads = []

    async def history(tier: str, model: str, locale: str, limit: int):
        reads.append(locale)
        if len(reads) == 1:
            raise ConnectionError("database is restarting")
        return [False] * limit, 60.0

    record = UngroundedTiers(AFTER, PROBE_S, history=history, reread_s=30, clock=clock)
    assert not await record.left_out(local, "en"), "a failed read leaves the model asked"
    assert not await record.left_out(local, "en")
    clock.advance(30)
    assert await record.left_out(local, "en"), "read again after reread_s"
    assert reads == ["en", "en"]


@pytest.mark.django_db
def test_stored_groundings_are_the_models_latest_answers_given_sources():
    answer = _stored_answer

    old = answer(Grounding.GROUNDED)
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))
    answer(Grounding.GROUNDED)
    answer(Grounding.NONE)  # no sources given: says nothing about citing
    answer(Grounding.NOT_ASKED)  # not asked (its tier and model are empty in the app anyway)
    answer(Grounding.REPLACED)
    answer(Grounding.UNGROUNDED, model="other")
    answer(Grounding.UNGROUNDED, tier="cheap")
    answer(Grounding.GROUNDED, locale="zh-hans")
    answer(Grounding.UNGROUNDED)
    stored = stored_groundings("local", "m", "en", 10)
    assert stored.outcomes == [False, False, True]
    assert 0 <= stored.newest_age_s < 60
    assert stored_groundings("local", "m", "en", 2).outcomes == [False, False]
    assert stored_groundings("local", "m", "zh-hans", 10).outcomes == [True]
    assert stored_groundings("local", "other", "zh-hans", 10) == StoredGroundings([], None)


@pytest.mark.django_db(transaction=True)
async def test_the_live_pipeline_shares_one_record_read_from_the_database(sims, settings):
    settings.LLM_UNGROUNDED_SKIP_AFTER = 2
    (local,) = _tiers(sims, "local")
    for _ in range(2):
        await database_sync_to_async(_stored_answer)(Grounding.REPLACED, model="local-model")
    llm = next(stage for stage in configured_stages() if stage.name == "llm")
    assert llm.ungrounded_tiers is process_ungrounded_tiers(), "one record per process"
    assert await llm.ungrounded_tiers.left_out(local, "en"), "the stored answers keep it out"
    assert not await llm.ungrounded_tiers.left_out(local, "zh-hans"), "nothing stored in zh"


@pytest.mark.django_db(transaction=True)
def test_the_router_page_shows_which_models_are_not_asked_questions_with_sources(
    admin_client, settings
):
    settings.LLM_UNGROUNDED_SKIP_AFTER = 3
    for _ in range(3):
        _stored_answer(Grounding.REPLACED, model="small-model")
    _stored_answer(Grounding.GROUNDED, model="big-model", tier="strong")
    _stored_answer(Grounding.UNGROUNDED, model="big-model", tier="strong")
    _stored_answer(Grounding.GROUNDED, model="small-model", locale="zh-hans")
    report = grounding_by_model(skip_after=3)
    assert [(r.tier, r.model, r.locale, r.answers, r.latest_all_ungrounded) for r in report] == [
        ("local", "small-model", "en", 3, True),
        ("strong", "big-model", "en", 2, False),
        ("local", "small-model", "zh-hans", 1, False),
    ]
    html = admin_client.get(reverse("llm-router-status")).content.decode()
    row = r"<tr><td>(\w+)</td><td>([\w-]+)</td><td>([\w ]+)</td>(.*?)</tr>"
    rows = re.findall(row, html, re.S)
    assert [r[:3] for r in rows] == [
        ("local", "small-model", "English"),
        ("strong", "big-model", "English"),
        ("local", "small-model", "Simplified Chinese"),
    ]
    small, big, small_zh = (r[3] for r in rows)
    assert "not asked" not in small_zh
    assert "<td>0 (0%)</td>" in small and "<strong>not asked</strong>" in small
    assert "<td>1 (50%)</td>" in big and "not asked" not in big
    assert "latest 3 answers given sources in a language were all ungrounded" in html
    settings.LLM_UNGROUNDED_SKIP_AFTER = 0  # the rule off: no "latest 0 answers"
    html = admin_client.get(reverse("llm-router-status")).content.decode()
    assert "latest 0" not in html and "LLM_UNGROUNDED_SKIP_AFTER is 0" in html
