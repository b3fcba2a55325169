"""`status` frames go out only for an answer that takes a while: the stage at work once the
answer has run CHAT_STATUS_DELAY_S, later stages at once, and never after the answer's text."""

import asyncio

import pytest

from chatbot import answering
from chatbot.answering import StatusFrames
from chatbot.llm.simulator import Faults
from tests.conftest import chat_socket

PUBLIC_ID = "conv-status"


@pytest.fixture
def published(monkeypatch) -> list[dict]:
    frames: list[dict] = []

    async def record(public_id: str, frame: dict) -> None:
        assert public_id == PUBLIC_ID
        await asyncio.sleep(0)  # a publish may yield, as the channel layer's does
        frames.append(frame)

    monkeypatch.setattr(answering, "publish", record)
    return frames


def stages(published: list[dict]) -> list[str]:
    return [frame["stage"] for frame in published if frame["type"] == "status"]


async def test_an_answer_found_at_once_sends_no_status(published):
    statuses = StatusFrames(PUBLIC_ID, 1, "en", delay_s=0.05)
    await statuses.show("faq")
    await statuses.show("cache")
    await statuses.settle()
    await asyncio.sleep(0.1)
    assert published == []


async def test_the_stage_at_work_when_the_delay_passes_is_sent_then_later_ones_at_once(published):
    statuses = StatusFrames(PUBLIC_ID, 1, "en", delay_s=0.05)
    await statuses.show("faq")
    await statuses.show("cache")
    await asyncio.sleep(0.08)
    assert stages(published) == ["cache"], "faq was over before anyone needed to hear of it"
    await statuses.show("llm")
    assert stages(published) == ["cache", "llm"]
    frame = published[-1]
    assert frame["reply_to"] == 1 and frame["text"]


async def test_a_status_being_sent_goes_out_before_the_text(published):
    statuses = StatusFrames(PUBLIC_ID, 1, "en", delay_s=0.02)
    await statuses.show("llm")
    loop = asyncio.get_running_loop()
    fired = loop.create_future()
    loop.call_at(statuses.deadline, fired.set_result, None)  # right after the status's timer
    await fired
    await statuses.settle()  # the first token arrives now
    published.append({"type": "token"})
    assert [frame["type"] for frame in published] == ["status", "token"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_a_slow_model_gets_its_status_before_the_first_token(upstream, settings):
    settings.CHAT_STATUS_DELAY_S = 0.2
    upstream.faults = Faults(first_token_delay_s=0.8)
    async with chat_socket() as client:
        frames = await client.say("What is the capital of France?", "slow-1")
    types = [frame["type"] for frame in frames]
    assert frames[-1]["source"] == "llm"
    sent = [frame["stage"] for frame in frames if frame["type"] == "status"]
    assert sent[-1:] == ["llm"], sent  # faq and cache are done within 0.2 s unless CI crawls
    assert types.index("status") < types.index("token")
