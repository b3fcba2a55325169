"""Demo conversations for the analytics page (/admin/analytics/), spread over the last two weeks,
with traces shaped like real ones. Idempotent: does nothing when the demo conversations exist
(`--reset` replaces them). They are marked by their visitor token (DEMO_VISITOR_PREFIX: the
dashboard leaves them out once real conversations exist, exports and the spend page always) and
never left in the agent queue (handed-off ones are closed)."""

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from chatbot.answer_facts import message_facts
from chatbot.llm.queued_flag import QUEUED_FLAG
from chatbot.models import (
    DEMO_VISITOR_PREFIX,
    Conversation,
    Feedback,
    HandoffReason,
    Message,
)
from chatbot.outcomes import Decision, Source

DAYS = 14
KNOWN = [  # (question, FAQ id in the traces, answer)
    ("How long does shipping take?", 1, "Standard shipping takes 3-5 business days."),
    ("Can I return sale items?", 2, "Yes, within 30 days, unworn and with their tags."),
    ("Do you ship internationally?", 3, "We ship to 40 countries; see the shipping page."),
    ("How do I reset my password?", 4, "Use “Forgot password” on the sign-in page."),
]
ASKED_OF_MODEL = [
    "Which size should I pick if I'm between a medium and a large?",
    "Are your cotton shirts pre-shrunk?",
    "Can I combine two discount codes?",
]
GAPS = [
    "Do you offer gift wrapping?",
    "Can I change my delivery address after ordering?",
    "Is there a student discount?",
]
# Conversation kinds in turn, so every figure has something to show.
KINDS = ["faq", "llm", "faq", "cache", "gap", "llm", "faq", "handoff", "llm", "recontact"]
MODEL_ANSWER = "Let me explain: our team can help with that from your account page."
FALLBACK = "Sorry, I can't answer that right now. Would you like to talk to a person?"


def _faq_step(faq_id: int, score: float) -> dict[str, Any]:
    return {
        "stage": "faq",
        "decision": "answer" if score >= 0.81 else "below_threshold",
        "elapsed_ms": 14.0,
        "score": score,
        "detail": {"faq_id": faq_id, "similarity": score},
    }


def _trace(source: str, steps: list[dict[str, Any]], ttft: float) -> dict[str, Any]:
    answering = next((s for s in reversed(steps) if s["stage"] == source), {})
    return {
        "source": source,
        "model": answering.get("model"),
        "score": answering.get("score"),
        "prompt_tokens": answering.get("prompt_tokens"),
        "completion_tokens": answering.get("completion_tokens"),
        "cost": answering.get("cost"),
        "ttft_ms": ttft,
        "total_ms": round(ttft * 3, 1),
        "steps": steps,
    }


@dataclass
class Script:
    """One demo conversation: its messages as (role, text, source, trace, feedback)."""

    token: str
    started: dt.datetime
    lines: list[tuple[str, str, str, dict[str, Any], str | None]] = field(default_factory=list)
    handoff_reason: str = ""
    rating: int | None = None


class Demo:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def answer(self, question: str, kind: str) -> tuple[str, str, dict[str, Any]]:
        rng = self.rng
        faq = next((k for k in KNOWN if k[0] == question), None)
        faq_id = faq[1] if faq else 9
        if kind == "faq" and faq:
            steps = [_faq_step(faq_id, round(rng.uniform(0.84, 0.97), 3))]
            return faq[2], "faq", _trace("faq", steps, round(rng.uniform(30, 90), 1))
        steps = [_faq_step(faq_id, round(rng.uniform(0.3, 0.7), 3))]
        if kind == "cache":
            steps.append({"stage": "cache", "decision": "hit", "elapsed_ms": 9.0, "score": 0.95})
            return MODEL_ANSWER, "cache", _trace("cache", steps, round(rng.uniform(40, 120), 1))
        steps.append({"stage": "cache", "decision": "miss", "elapsed_ms": 8.0})
        if kind == "llm":
            prompt, completion = rng.randint(300, 700), rng.randint(40, 160)
            steps.append(
                {
                    "stage": Source.LLM,
                    "decision": Decision.ANSWERED,
                    "elapsed_ms": 900.0,
                    "model": "smollm2-135m",
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "cost": round((prompt * 0.15 + completion * 0.6) / 1e6, 8),
                    "detail": {"tier": "local"},
                }
            )
            return (
                MODEL_ANSWER,
                Source.LLM,
                _trace(Source.LLM, steps, round(rng.uniform(350, 1400), 1)),
            )
        if rng.random() < 0.5:
            detail = {"tier": "cloud", "reason": "breaker_open"}
            steps.append({"stage": Source.LLM, "decision": Decision.TIER_SKIPPED, "detail": detail})
        else:
            detail = {"tier": "cloud", "error": "timeout", "kind": "timeout"}
            steps.append({"stage": Source.LLM, "decision": Decision.TIER_FAILED, "detail": detail})
        detail = {"tier": "local", "error": "connect", "kind": "connect"}
        steps.append({"stage": Source.LLM, "decision": Decision.TIER_FAILED, "detail": detail})
        detail = {"template": "default", QUEUED_FLAG: False}
        steps.append(
            {"stage": Source.FALLBACK, "decision": Decision.CANNED_ANSWER, "detail": detail}
        )
        return (
            FALLBACK,
            Source.FALLBACK,
            _trace(Source.FALLBACK, steps, round(rng.uniform(1500, 4000), 1)),
        )

    def conversation(self, index: int, now: dt.datetime) -> list[Script]:
        rng = self.rng
        started = now - dt.timedelta(days=index % DAYS, hours=rng.uniform(1, 20))
        token = f"{DEMO_VISITOR_PREFIX}{index}"
        script = Script(token, started)
        kind = KINDS[index % len(KINDS)]
        pool = {"faq": [k[0] for k in KNOWN], "gap": GAPS}.get(kind, ASKED_OF_MODEL)
        question = rng.choice(pool)
        answer_kind = {"gap": "fallback", "handoff": "llm", "recontact": "llm"}.get(kind, kind)
        text, source, trace = self.answer(question, answer_kind)
        feedback = rng.choice(["up", None, None]) if kind in ("faq", "llm") else None
        if kind == "gap" and rng.random() < 0.5:
            feedback = "down"
        script.lines += [
            ("visitor", question, "", {}, None),
            ("bot", text, source, trace, feedback),
        ]
        if kind == "handoff":
            script.lines += [
                ("visitor", "I want to talk to a human", "", {}, None),
                ("agent", "Hi, this is Sam from the store team. Let me check that.", "", {}, None),
            ]
            script.handoff_reason = HandoffReason.VISITOR_WORDS
            script.rating = rng.choice([3, 4, 5, 5])
        elif kind == "gap" and feedback == "down":
            script.handoff_reason = HandoffReason.NEGATIVE_FEEDBACK
            script.lines.append(("agent", "Sorry about that, I can help.", "", {}, None))
        elif kind in ("faq", "llm") and rng.random() < 0.3:
            script.rating = rng.choice([2, 4, 5])
        if kind != "recontact":
            return [script]
        again = Script(token, started + dt.timedelta(hours=3))
        text, source, trace = self.answer(question, "llm")
        again.lines += [("visitor", question, "", {}, None), ("bot", text, source, trace, None)]
        return [script, again]


@transaction.atomic
def seed(*, conversations: int = 40, seed_value: int = 7) -> int:
    """Creates the demo conversations; returns how many."""
    now = timezone.now()
    demo = Demo(random.Random(seed_value))
    scripts = [s for i in range(conversations) for s in demo.conversation(i, now)]
    stored: list[Message] = []
    feedback: list[tuple[Message, str]] = []
    for script in scripts:
        closed = bool(script.handoff_reason)
        conversation = Conversation.objects.create(
            visitor_token=script.token,
            status=Conversation.Status.CLOSED if closed else Conversation.Status.BOT,
            handoff_reason=script.handoff_reason,
            rating=script.rating,
        )
        previous: Message | None = None
        for offset, (role, text, source, trace, vote) in enumerate(script.lines):
            message = Message(
                conversation=conversation,
                role=role,
                text=text,
                source=source,
                trace=trace,
                **message_facts(role, trace).columns(),
                reply_to=previous
                if role == "bot" and previous and previous.role == "visitor"
                else None,
            )
            message.save()
            message.created_at = script.started + dt.timedelta(seconds=20 * offset)
            stored.append(message)
            if vote:
                feedback.append((message, vote))
            previous = message
        end = script.started + dt.timedelta(seconds=20 * len(script.lines))
        Conversation.objects.filter(pk=conversation.pk).update(
            created_at=script.started,
            updated_at=end,
            last_visitor_message_at=script.started,
            queued_at=script.started if closed else None,
            closed_at=end if closed else None,
        )
    # auto_now_add ignores assigned values on save; bulk_update writes them as given.
    Message.objects.bulk_update(stored, ["created_at"])
    Feedback.objects.bulk_create(Feedback(message=m, value=v) for m, v in feedback)
    return len(scripts)


class Command(BaseCommand):
    help = "Seed demo conversations for the analytics dashboard (skipped when already there)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--reset", action="store_true", help="replace the demo conversations")
        parser.add_argument("--remove", action="store_true", help="delete the demo conversations")

    def handle(self, *args, reset: bool = False, remove: bool = False, **options) -> None:
        existing = Conversation.objects.filter(visitor_token__startswith=DEMO_VISITOR_PREFIX)
        if remove:
            removed = existing.delete()[1].get("chatbot.Conversation", 0)
            self.stdout.write(f"Analytics demo: {removed} conversations removed.")
            return
        if reset:
            existing.delete()
        elif existing.exists():
            self.stdout.write("Analytics demo conversations already present.")
            return
        self.stdout.write(f"Analytics demo: {seed()} conversations.")
