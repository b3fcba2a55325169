"""Last stage: always answers, politely, without any model: the best matching rule template
(knowledge.models.RuleTemplate), the help-centre articles the model stage found for a question
no model answered, or the generic answer; an offer of a person, and, when a model was tried and
failed, the promise of an answer here later (chatbot.tasks keeps it)."""

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from chatbot import visitor_copy
from chatbot.answer_facts import models_were_down
from chatbot.answer_trace import Trace, TraceStep
from chatbot.llm import queued_flag
from chatbot.llm.queued_flag import QUEUED_FLAG
from chatbot.observability.logs import describe_error
from chatbot.outcomes import Decision, Source
from chatbot.pipeline.base import Answer, Citation, Turn
from chatbot.pipeline.grounding import suggested_articles
from chatbot.security.ratelimit import LIMITED_DECISIONS
from knowledge.documents.types import Retrieval
from knowledge.models import RuleTemplate

logger = logging.getLogger(__name__)


def chunk_words(text: str) -> list[str]:
    """Split into word-sized pieces (with their spacing) so a canned answer streams like a live one.
    CJK text has no spaces, so it goes out a few characters at a time."""
    pieces = re.findall(r"\S+\s*|\s+", text)
    out: list[str] = []
    for piece in pieces:
        if len(piece) > 12 and not any(ch.isspace() for ch in piece.strip()):
            out.extend(piece[i : i + 4] for i in range(0, len(piece), 4))
        else:
            out.append(piece)
    return out


def stored_answer(source: str, text: str, **fields: Any) -> Answer:
    """A stored answer (an FAQ's, a cached one, a template) as `stream_text` sends it."""
    whole = not settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S
    return Answer(source, stream_text(text), whole=whole, **fields)


async def stream_text(
    text: str, delay_s: float | None = None, frame_s: float | None = None
) -> AsyncIterator[str]:
    """A stored answer as the visitor receives it. By default (`delay_s` 0) whole, in one token
    frame: it is ready, so it shows at once, and every frame costs the server a publish and a
    socket write. With a `delay_s` per word it is paced so the visitor sees it being written: the
    first word at once, later words in groups that fill one token frame (`frame_s`,
    CHAT_TOKEN_FRAME_INTERVAL_S), since the frames would merge them anyway."""
    delay_s = settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S if delay_s is None else delay_s
    frame_s = settings.CHAT_TOKEN_FRAME_INTERVAL_S if frame_s is None else frame_s
    if not text:
        return
    if not delay_s:
        yield text
        return
    pieces = chunk_words(text)
    yield pieces[0]
    group = max(1, round(frame_s / delay_s))
    for start in range(1, len(pieces), group):
        words = pieces[start : start + group]
        await asyncio.sleep(delay_s * len(words))
        yield "".join(words)


@dataclass(frozen=True)
class Template:
    id: int
    name: str
    patterns: tuple[str, ...]
    priority: int
    text: str


def _compile(line: str) -> re.Pattern[str] | None:
    """`/regex/` as written; a keyword as a whole word (or a substring in CJK text)."""
    if len(line) > 2 and line.startswith("/") and line.endswith("/"):
        try:
            return re.compile(line[1:-1], re.IGNORECASE)
        except re.error:
            logger.warning("rule template pattern %r is not a valid regex; ignored", line)
            return None
    keyword = re.escape(line)
    if re.match(r"\w", line, re.ASCII):
        keyword = r"\b" + keyword
    if re.search(r"\w$", line, re.ASCII):
        keyword += r"\b"
    return re.compile(keyword, re.IGNORECASE)


def matches(text: str, patterns: Sequence[str]) -> bool:
    for line in patterns:
        pattern = _compile(line)
        if pattern is not None and pattern.search(text):
            return True
    return False


def best_template(text: str, templates: Sequence[Template]) -> Template | None:
    """The highest-priority template with a matching pattern (ties: by name)."""
    for template in sorted(templates, key=lambda t: (-t.priority, t.name)):
        if matches(text, template.patterns):
            return template
    return None


def help_centre_has_nothing(trace: Trace) -> bool:
    """The model stage found nothing relevant in the help centre and was not to answer
    without it: only "not found" is honest, now or later."""
    return any(
        step.stage == Source.LLM
        and step.decision in (Decision.NOTHING_RELEVANT, Decision.NO_DOCUMENTS)
        and not step.detail.get("answer_without_sources")
        for step in trace.steps
    )


def active_templates(locale: str) -> list[Template]:
    return [
        Template(
            r.pk,
            r.name,
            tuple(line.strip() for line in r.patterns.splitlines() if line.strip()),
            r.priority,
            r.text,
        )
        for r in RuleTemplate.objects.filter(active=True, locale=locale)
    ]


class FallbackStage:
    name = Source.FALLBACK

    def __init__(
        self,
        templates: Callable[[str], Awaitable[list[Template]]] | None = None,
        *,
        queue_unanswered: bool | None = None,
        retrieve: Callable[[Turn], Awaitable[Retrieval | None]] | None = None,
        agents_online: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self.templates = templates or database_sync_to_async(active_templates)
        self.queue_unanswered = (
            settings.LLM_QUEUE_UNANSWERED if queue_unanswered is None else queue_unanswered
        )
        # The model stage's retrieval: its passages become suggested articles when it found
        # some but no model answered (down, too slow, over a limit).
        self.retrieve = retrieve
        # With every model down and an agent online, a person takes the conversation after
        # this answer (chatbot.handoff.services.handoff_after_bot_answer).
        self.agents_online = agents_online

    async def _suggestions(self, turn: Turn, trace: Trace) -> tuple[Citation, ...]:
        """Links to the articles the model stage retrieved for this turn (the same search again:
        its question vector is cached), without the passages it withheld; none when it found
        nothing relevant or the search fails now."""
        step = next(
            (s for s in trace.steps if s.stage == Source.LLM and s.decision == Decision.RETRIEVED),
            None,
        )
        if step is None or self.retrieve is None:
            return ()
        given = {p["chunk_id"] for p in step.detail.get("passages", ())}
        given -= set(step.detail.get("withheld_passages", ()))
        try:
            found = await self.retrieve(turn)
        except Exception as exc:
            logger.warning("no articles to suggest: %s", describe_error(exc))
            return ()
        passages = [p for p in found.passages if p.chunk_id in given] if found else []
        return suggested_articles(passages, turn.text)

    async def _a_person_takes_it(self, trace: Trace) -> bool:
        """Whether the queue takes the conversation after this answer: then a person answers
        the question, and the bot, which never writes into a queued conversation, promises no
        answer of its own. A walk read "I've kept your question and will answer it here" above
        "we're passing your question to a member of our team", and the promise was never kept."""
        if self.agents_online is None or not settings.HANDOFF_WHEN_MODELS_DOWN:
            return False
        if not models_were_down({**trace.to_dict(), "source": Source.FALLBACK}):
            return False
        try:
            return await self.agents_online() > 0
        except Exception as exc:
            logger.warning("agents online unknown: %s", describe_error(exc))
            return False

    async def attempt(self, turn: Turn, trace: Trace) -> Answer:
        """Never raises: without its templates (the database failed) it gives the generic
        answer, and without the shared queued flag (Redis failed) it promises no later answer."""
        started = trace.elapsed_ms()
        try:
            template = best_template(turn.text, await self.templates(turn.locale))
        except Exception as exc:
            logger.warning("rule templates unavailable: %s", describe_error(exc))
            template = None
        # The help centre has nothing on it: say so rather than let anything guess, and do not
        # promise a model's answer later.
        not_found = help_centre_has_nothing(trace)
        # The model stage ran and passed: it could not answer, so a model should answer later
        # (not when a limit kept it from asking: a later answer would be the call refused).
        queued = (
            self.queue_unanswered
            and not not_found
            and any(step.stage == Source.LLM for step in trace.steps)
            and not any(step.decision in LIMITED_DECISIONS for step in trace.steps)
        )
        # A person takes the conversation after this answer: the bot promises no answer of its
        # own and offers no person (a walk read "ask to talk to a person" above the queue's
        # "we're passing your question to a member of our team").
        person_next = await self._a_person_takes_it(trace)
        if person_next:
            queued = False
        if queued:
            try:
                await queued_flag.mark()
            except Exception as exc:
                logger.warning("could not queue the question for later: %s", describe_error(exc))
                queued = False
        suggestions = () if template or not_found else await self._suggestions(turn, trace)
        if template is not None:
            parts = [template.text]
            if not person_next:
                parts.append(visitor_copy.render(visitor_copy.HUMAN_OFFER, turn.locale))
        elif not_found:
            parts = [visitor_copy.render(visitor_copy.NOT_FOUND_ANSWER, turn.locale)]
        elif suggestions:
            copy = (
                visitor_copy.SUGGEST_BEFORE_PERSON
                if person_next
                else visitor_copy.SUGGEST_WITHOUT_MODEL
            )
            parts = [visitor_copy.render(copy, turn.locale)]
        else:
            copy = visitor_copy.PERSON_NEXT_ANSWER if person_next else visitor_copy.FALLBACK_ANSWER
            parts = [visitor_copy.render(copy, turn.locale)]
        if queued:
            parts.append(visitor_copy.render(visitor_copy.QUEUED_PROMISE, turn.locale))
        separator = "" if visitor_copy.normalise_locale(turn.locale) == "zh-hans" else " "
        if template:
            decision = Decision.RULE_TEMPLATE
        elif not_found:
            decision = Decision.NOT_FOUND
        else:
            decision = Decision.SUGGESTED_ARTICLES if suggestions else Decision.CANNED_ANSWER
        detail = {
            "template": template.name if template else "default",
            "template_id": template.id if template else None,
            QUEUED_FLAG: queued,
        }
        if suggestions:
            detail["suggested_documents"] = [c.document_id for c in suggestions]
        trace.add(
            TraceStep(self.name, decision, round(trace.elapsed_ms() - started, 2), detail=detail)
        )
        return stored_answer(self.name, separator.join(parts), citations=suggestions)
