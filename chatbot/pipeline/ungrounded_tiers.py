"""Which model tiers have lately written nothing but ungrounded answers to questions with
help-centre sources, so that the LLM stage stops asking them such questions for a while.

Under LLM_UNGROUNDED `suggest` or `replace` an ungrounded answer is thrown away, so asking a model
that never cites only makes the visitor wait for text nobody will see: the local SmolLM2-135M
cites practically never (docs/knowledge-base.md), and every question the FAQs do not cover waited
3-11 s for suggested articles that were ready at once. A tier whose models' last `after` answers
given sources in the question's language were all ungrounded is left out of such questions; one
question every `probe_s` still asks it (a grounded answer ends the skipping), and questions
without sources always reach it.

The record is per model and language (a small model may cite in English and never in Chinese),
kept in each process and read again from the stored answers every `reread_s` (their `grounding`,
tier and model columns, their conversation's locale, and when the newest was written, from which
the next probe is due), so a restart or another process does not have to relearn what the
database knows."""

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from chatbot.llm.tiers import Tier
from chatbot.observability.logs import describe_error

logger = logging.getLogger(__name__)

# The latest groundings (True: grounded) of a tier's model in a locale, newest first, at most
# `limit`, and how many seconds ago the newest was written: (tier, model, locale, limit).
History = Callable[[str, str, str, int], Awaitable[tuple[Sequence[bool], float | None]]]


def all_ungrounded(latest: Sequence[bool], after: int) -> bool:
    """The rule: `after` answers (or more) given sources, none of them grounded; never with
    `after` 0 (turned off)."""
    return after > 0 and len(latest) >= after and not any(latest)


@dataclass
class _Record:
    outcomes: deque[bool]
    asked_at: float = -math.inf
    read_at: float = -math.inf  # when the stored answers were last read (or tried)
    reading: asyncio.Lock = field(default_factory=asyncio.Lock)


class UngroundedTiers:
    def __init__(
        self,
        after: int,
        probe_s: float,
        *,
        history: History | None = None,
        reread_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.after = after
        self.probe_s = probe_s
        self.history = history
        self.reread_s = reread_s
        self.clock = clock
        self._records: dict[tuple[str, str, str], _Record] = {}

    def _record(self, tier: str, model: str, locale: str) -> _Record:
        key = (tier, model, locale)
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = _Record(deque(maxlen=max(self.after, 1)))
        return record

    async def _read(self, tier: str, model: str, locale: str) -> _Record:
        """The record, from the stored answers once every `reread_s`: they hold every process's
        answers (each is stored before it is recorded here), so the processes agree within that
        time instead of each asking the model `after` times of its own."""
        record = self._record(tier, model, locale)
        if self.history is None or self.clock() - record.read_at < self.reread_s:
            return record
        async with record.reading:
            if self.clock() - record.read_at < self.reread_s:
                return record
            record.read_at = self.clock()
            try:
                stored, age_s = await self.history(tier, model, locale, self.after)
            except Exception as exc:  # the record stays as it was until the next read
                logger.warning("stored groundings unavailable: %s", describe_error(exc))
                return record
            record.outcomes.clear()
            record.outcomes.extend(reversed(stored))
            if age_s is not None:  # the model was last asked then
                record.asked_at = max(record.asked_at, self.clock() - age_s)
        return record

    def record(self, tier: str, model: str, locale: str, grounded: bool) -> None:
        """How an answer of the tier's model given sources stood up to the citation check (it
        was asked: a probe, if one was due)."""
        record = self._record(tier, model, locale)
        record.outcomes.append(grounded)
        record.asked_at = self.clock()

    async def left_out(self, tier: Tier, locale: str, *, asking: bool = True) -> bool:
        """True when every model of the tier wrote only ungrounded answers lately in this
        locale and no probe is due. With `asking` (the tier is the first of the route left, so
        the question goes to it), asking counts as the probe: concurrent questions do not all
        probe at once. A later tier of the route is asked only if those before it fail: its
        probe stays due until it is."""
        if self.after <= 0:
            return False
        records = [await self._read(tier.name, p.model, locale) for p in tier.providers]
        now = self.clock()
        failing = all(all_ungrounded(r.outcomes, self.after) for r in records) and any(
            now - r.asked_at < self.probe_s for r in records
        )
        if not failing and asking:
            for record in records:
                record.asked_at = now
        return failing
