"""Builds the configured stage list. The order is data (CHAT_PIPELINE_STAGES), so new stages
slot in here without touching the consumer."""

from collections.abc import Callable

from django.conf import settings

from chatbot.cache.stage import CacheStage
from chatbot.llm.router import default_router
from chatbot.pipeline.base import Stage
from chatbot.pipeline.fallback_stage import FallbackStage
from chatbot.pipeline.faq_stage import FAQStage
from chatbot.pipeline.llm_stage import LLMStage


def _llm_stage() -> Stage:
    return LLMStage(
        default_router(),
        system_prompt=settings.LLM_SYSTEM_PROMPT,
        history_budget=settings.LLM_HISTORY_TOKEN_BUDGET,
    )


STAGE_FACTORIES: dict[str, Callable[[], Stage]] = {
    "faq": FAQStage,
    "cache": CacheStage,
    "llm": _llm_stage,
    "fallback": FallbackStage,
}


def configured_stages() -> list[Stage]:
    return [STAGE_FACTORIES[name]() for name in settings.CHAT_PIPELINE_STAGES]
