"""Stored answers (FAQ, cache, templates) go out whole by default; paced, they stream at a
reading pace: the first word at once, then groups of words that fill one token frame each."""

import asyncio

from chatbot.pipeline.fallback_stage import stored_answer, stream_text

TEXT = "Standard delivery takes three to five working days, tracked, to most addresses."


async def timed(text: str, delay_s: float, frame_s: float) -> list[tuple[float, str]]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    return [(loop.time() - started, piece) async for piece in stream_text(text, delay_s, frame_s)]


async def test_words_go_in_frame_sized_groups_at_the_same_pace():
    """Paces of 50 ms, so that "at once" (under half a word's pace) holds on a busy machine:
    at 10 ms the first word came after 12.6 ms in a loaded CI run."""
    pieces = await timed(TEXT, delay_s=0.05, frame_s=0.15)
    assert "".join(p for _, p in pieces) == TEXT
    assert pieces[0] == (pieces[0][0], "Standard ") and pieces[0][0] < 0.025
    assert [len(p.split()) for _, p in pieces[1:]] == [3, 3, 3, 2]
    assert 0.5 <= pieces[-1][0] < 1.0, "eleven words after the first at 50 ms each"


async def test_without_frame_merging_every_word_is_its_own_piece():
    pieces = await timed(TEXT, delay_s=0.001, frame_s=0)
    assert [p for _, p in pieces] == [w + " " for w in TEXT.split()[:-1]] + [TEXT.split()[-1]]


async def test_unpaced_the_answer_is_one_piece_at_once():
    pieces = await timed(TEXT, delay_s=0, frame_s=0.05)
    assert [p for _, p in pieces] == [TEXT]
    assert pieces[0][0] < 0.025


async def test_by_default_a_stored_answer_is_one_piece():
    assert [piece async for piece in stream_text(TEXT)] == [TEXT]


async def test_an_empty_answer_streams_nothing():
    assert await timed("", delay_s=0.01, frame_s=0.05) == []


async def test_an_unpaced_stored_answer_reaches_the_answer_task_marked_whole(settings):
    """Marked whole (answering keeps no partial text for it) only when it is one piece."""
    from chatbot.answer_trace import Trace
    from chatbot.pipeline.base import TokenEvent, Turn
    from chatbot.pipeline.orchestrator import run_pipeline

    class Stored:
        name = "faq"

        async def attempt(self, turn, trace):
            return stored_answer(self.name, TEXT)

    turn = Turn(conversation_public_id="c", message_id=1, text="delivery?", locale="en")
    for delay_s, whole in ((0.0, True), (0.001, False)):
        settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S = delay_s
        events = [e async for e in run_pipeline(turn, [Stored()], Trace())]
        tokens = [e for e in events if isinstance(e, TokenEvent)]
        assert "".join(t.text for t in tokens) == TEXT
        assert {t.whole for t in tokens} == {whole}
