"""`models_were_down` (handoff to a person, analytics' "models down"): a fallback answer counts
only when every tier failed, not when a model was up and answered nothing."""

from chatbot.answer_facts import models_were_down
from chatbot.answer_trace import Trace
from chatbot.llm.simulator import Faults
from chatbot.pipeline.base import Turn
from chatbot.pipeline.fallback_stage import FallbackStage
from chatbot.pipeline.llm_stage import LLMStage
from tests.llm.test_router import make_router


async def _no_templates(locale: str) -> list:
    return []


async def fallback_trace(sims) -> dict:
    """The trace of a question the model stage passed on and the fallback answered."""
    stage = LLMStage(make_router(sims), system_prompt="", history_budget=0)
    trace = Trace()
    turn = Turn("c", 1, "Where is my parcel?")
    assert await stage.attempt(turn, trace) is None
    await FallbackStage(_no_templates, queue_unanswered=False).attempt(turn, trace)
    trace.finish("fallback")
    return trace.to_dict()


async def test_a_model_that_answered_nothing_was_not_down(sims):
    for sim in sims.values():
        sim.answer = lambda question: ""
    trace = await fallback_trace(sims)
    kinds = [s["detail"].get("kind") for s in trace["steps"] if s["decision"] == "tier_failed"]
    assert kinds and set(kinds) == {"empty_answer"}
    assert not models_were_down(trace)


async def test_every_tier_failing_is_models_down(sims):
    for sim in sims.values():
        sim.faults = Faults(error_rate=1.0)
    assert models_were_down(await fallback_trace(sims))
