"""An answer's pieces become `token` frames: the first at once, later ones merged to at most one
frame per interval, in offset order, with nothing held back when the source pauses.

The event loop's clock is looptime's fake one: sleeps and timers move it without waiting, so
the intervals asserted are exact, whatever the machine's load."""

import asyncio
import itertools

import pytest

from chatbot import answering
from chatbot.answering import TokenFrames, partial_key
from chatbot.shared_state import shared_state

PUBLIC_ID = "conv-frames"
pytestmark = pytest.mark.looptime


class Published(list[tuple[float, dict]]):
    """(loop time, frame) of every frame sent; `count` waits until that many went out."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Condition()

    async def record(self, public_id: str, frame: dict) -> None:
        assert public_id == PUBLIC_ID
        async with self.changed:
            self.append((asyncio.get_running_loop().time(), frame))
            self.changed.notify_all()

    async def count(self, n: int) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: len(self) >= n), timeout=5)


@pytest.fixture
def published(monkeypatch) -> Published:
    frames = Published()
    monkeypatch.setattr(answering, "publish", frames.record)
    return frames


def texts(published: Published) -> list[str]:
    return [frame["text"] for _, frame in published]


async def test_pieces_are_merged_to_one_frame_per_interval(published):
    frames = TokenFrames(PUBLIC_ID, 7, interval_s=0.05)
    started = asyncio.get_running_loop().time()
    pieces = [f"w{n} " for n in range(20)]
    for piece in pieces:
        await frames.add(piece)
        await asyncio.sleep(0.01)
    await frames.flush()

    assert texts(published)[0] == "w0 ", "the first piece goes out alone, at once"
    assert published[0][0] == started
    assert "".join(texts(published)) == "".join(pieces)
    assert len(published) == 5, "200 ms of pieces at one frame per 50 ms, then the rest"
    offsets = [frame["offset"] for _, frame in published]
    assert offsets == [sum(len(t) for t in texts(published)[:i]) for i in range(len(published))]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(published[:-1])]  # not the final flush
    assert gaps == pytest.approx([0.05] * len(gaps)), gaps
    assert await shared_state().read(partial_key(7)) == "".join(pieces), "resume sees it all"


async def test_a_piece_waiting_for_its_frame_is_sent_when_the_source_pauses(published):
    frames = TokenFrames(PUBLIC_ID, 8, interval_s=0.05)
    await frames.add("Hello")
    await frames.add(", world")  # within the interval: waits for the timer
    assert texts(published) == ["Hello"]
    await published.count(2)  # the source says nothing more: the timer sends it
    assert texts(published) == ["Hello", ", world"]
    assert published[1][0] - published[0][0] == pytest.approx(0.05)
    assert [frame["offset"] for _, frame in published] == [0, 5]


async def test_a_cancelled_answer_sends_nothing_more(published):
    frames = TokenFrames(PUBLIC_ID, 9, interval_s=0.05)
    await frames.add("Let me")
    await frames.add(" check")
    frames.discard()
    await asyncio.sleep(0.08)  # past the interval, on the fake clock
    assert texts(published) == ["Let me"]


async def test_interval_zero_sends_every_piece(published):
    frames = TokenFrames(PUBLIC_ID, 10, interval_s=0)
    for piece in ("a", "b", "c"):
        await frames.add(piece)
    assert texts(published) == ["a", "b", "c"]


async def test_an_answer_sent_whole_is_not_kept_as_a_partial_one(published):
    """A stored answer goes out in one frame and only `done` follows it: no partial text is
    written for a resume (a Redis round trip before its first word); streamed text is."""
    whole = TokenFrames(PUBLIC_ID, 9, interval_s=0.05)
    await whole.add("Orders arrive in 3-5 days.", keep=False)
    assert texts(published) == ["Orders arrive in 3-5 days."]
    assert await shared_state().read(partial_key(9)) is None
    streamed = TokenFrames(PUBLIC_ID, 10, interval_s=0.05)
    await streamed.add("Orders ")
    assert await shared_state().read(partial_key(10)) == "Orders "
