"""The one wiring place: builds the configured model router and stage list from settings and
passes them their hooks (status frames, the recovery signal). The order is data
(CHAT_PIPELINE_STAGES), so new stages slot in here without touching the consumer."""

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from django.conf import settings

from chatbot.cache.context import question_in_context
from chatbot.database_lanes import on_lookup_lane, on_retrieval_lane
from chatbot.llm import router_state
from chatbot.llm.router import Router, process_retry_budget, router_policy
from chatbot.llm.signals import model_recovered
from chatbot.llm.tiers import TierConfigError, configured_tiers
from chatbot.pipeline.base import Stage, Turn
from chatbot.pipeline.cache_stage import CacheStage
from chatbot.pipeline.fallback_stage import FallbackStage
from chatbot.pipeline.faq_stage import FAQStage
from chatbot.pipeline.grounding import UngroundedPolicy, WithoutSources
from chatbot.pipeline.grounding_report import stored_groundings
from chatbot.pipeline.llm_stage import LLMStage, Notify, OutputPolicy, Retrieve, publish_status
from chatbot.pipeline.output_filter import OutputCheck
from chatbot.pipeline.small_talk_stage import SmallTalkStage
from chatbot.pipeline.ungrounded_tiers import UngroundedTiers
from knowledge.documents.types import Retrieval
from knowledge.embeddings import embed_one_async
from knowledge.greetings import strip_greetings
from knowledge.output_rules import output_knowledge
from knowledge.selectors import passages_retrieve

logger = logging.getLogger(__name__)


def help_centre_retriever(*, top_k: int) -> Retrieve:
    """The help centre's best passages for a turn (public documents of its locale), or None
    when the locale has no indexed documents at all (passages all deleted since the search's
    copy loaded are "nothing relevant", not "no help centre": a content walk saw the model
    answer without sources right after an import). The question is embedded on the embedding
    thread (the FAQ stage embedded the same text a moment ago: a cache hit), then searched on
    the retrieval lane. A follow-up whose words alone find nothing relevant is searched again
    with the questions it continues (`question_in_context`); a short question that changes the
    subject ("gift cards") finds its own article first and keeps it."""
    search = on_retrieval_lane(passages_retrieve)

    async def find(text: str, locale: str) -> Retrieval:
        vector = await embed_one_async(text, locale)
        return await search(text=text, locale=locale, k=top_k, vector=vector)

    async def retrieve(turn: Turn) -> Retrieval | None:
        text = strip_greetings(turn.text)
        found = await find(text, turn.locale)
        in_context = question_in_context(text, turn.history)
        if not found.relevant and in_context != text:
            # Nothing for the words alone ("and to Canada?"): with the questions they follow.
            followed = await find(in_context, turn.locale)
            found = followed if followed.relevant else found
        return found if found.searched else None

    return retrieve


def _own_hosts() -> frozenset[str]:
    """This site's hosts and the sites that embed the widget: links to them are always fine."""
    hosts = {h.lstrip(".").lower() for h in settings.ALLOWED_HOSTS if h not in ("*", "")}
    hosts |= {urlsplit(o).hostname or o for o in settings.CHAT_ALLOWED_ORIGINS}
    return frozenset(h.strip("[]") for h in hosts)


def knowledge_output_policy() -> OutputPolicy:
    """The output filter's rules and known facts (reloaded when the knowledge moves, on the
    lookup lane) with this site's settings."""
    load = on_lookup_lane(output_knowledge)
    own_hosts = _own_hosts()

    async def policy(turn: Turn, sources_text: str) -> OutputCheck:
        return OutputCheck(
            knowledge=await load(),
            locale=turn.locale,
            question=turn.text,
            sources_text=sources_text,
            own_hosts=own_hosts,
            system_prompt=settings.LLM_SYSTEM_PROMPT,
            check_links=settings.OUTPUT_FILTER_LINKS,
            check_prices=settings.OUTPUT_FILTER_PRICES,
        )

    return policy


async def _announce_recovery() -> None:
    await model_recovered.asend(sender=Router)


def configured_router() -> Router:
    """The router as configured in settings; its recoveries go out as `model_recovered` (the
    queued questions' drain listens, chatbot.tasks)."""
    policy = router_policy()
    return Router(
        configured_tiers(),
        policy,
        retry_budget=process_retry_budget(policy.retry),
        on_recovery=_announce_recovery,
    )


async def _stored_history(
    tier: str, model: str, locale: str, limit: int
) -> tuple[list[bool], float | None]:
    stored = await database_sync_to_async(stored_groundings)(tier, model, locale, limit)
    return stored.outcomes, stored.newest_age_s


def process_ungrounded_tiers() -> UngroundedTiers:
    """This process's record (it lives as long as the rest of its router state)."""
    memory = router_state.memory("ungrounded_tiers")
    record = memory.get("record")
    if record is None:
        record = memory["record"] = UngroundedTiers(
            settings.LLM_UNGROUNDED_SKIP_AFTER,
            settings.LLM_UNGROUNDED_PROBE_S,
            history=_stored_history,
        )
    return record


def queued_answers_stage() -> LLMStage:
    """The model stage that answers queued questions: the live stage's sources, grounding and
    output checks (a later answer is held to the same rules), with nobody on a socket waiting
    for its status."""
    return _model_stage(notify=None)


def _llm_stage() -> Stage:
    return _model_stage(notify=publish_status)


def _model_stage(*, notify: Notify | None) -> LLMStage:
    return LLMStage(
        configured_router(),
        system_prompt=settings.LLM_SYSTEM_PROMPT,
        history_budget=settings.LLM_HISTORY_TOKEN_BUDGET,
        notify=notify,
        retrieve=help_centre_retriever(top_k=settings.LLM_RETRIEVAL_TOP_K),
        without_sources=WithoutSources(settings.LLM_ANSWER_WITHOUT_SOURCES),
        sources_budget=settings.LLM_SOURCES_TOKEN_BUDGET,
        prompt_budget=settings.LLM_PROMPT_TOKEN_BUDGET,
        ungrounded=UngroundedPolicy(settings.LLM_UNGROUNDED),
        output_policy=knowledge_output_policy() if settings.OUTPUT_FILTER else None,
        withhold_instructions=settings.LLM_WITHHOLD_INSTRUCTIONS,
        hold_ungrounded=settings.LLM_HOLD_UNGROUNDED,
        stop_ungrounded=settings.LLM_STOP_UNGROUNDED,
        ungrounded_tiers=process_ungrounded_tiers(),
    )


def _fallback_stage() -> Stage:
    return FallbackStage(retrieve=help_centre_retriever(top_k=settings.LLM_RETRIEVAL_TOP_K))


STAGE_FACTORIES: dict[str, Callable[[], Stage]] = {
    "small_talk": SmallTalkStage,
    "faq": FAQStage,
    "cache": CacheStage,
    "llm": _llm_stage,
    "fallback": _fallback_stage,
}


def configured_stages(*, agents_online: Callable[[], Awaitable[int]] | None = None) -> list[Stage]:
    """The stages in their order. A model configuration that cannot be read (the system check
    stops `serve` on it; a process started another way meets it here) drops the model stage,
    logged, rather than every answer: the FAQ, the cache and the rule templates still answer.
    `agents_online` tells the fallback whether a person takes a conversation no model could
    answer (given by the caller: the handoff app sits above the pipeline)."""
    stages = []
    for name in settings.CHAT_PIPELINE_STAGES:
        try:
            stages.append(STAGE_FACTORIES[name]())
        except TierConfigError as exc:
            logger.error("the %s stage is left out: %s", name, exc)
    for stage in stages:
        if isinstance(stage, FallbackStage):
            stage.agents_online = agents_online
    return stages
