import re
from collections.abc import Iterator

import pytest

from chatbot.cache.index import reset_index
from chatbot.llm.simulator import UpstreamSimulator, default_answer


@pytest.fixture(autouse=True)
def _fresh_cache_index(settings) -> None:
    """Each test's database starts empty, so the per-process index must too."""
    settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S = 0.0
    reset_index()
    yield
    reset_index()


def topic_answer(question: str) -> str:
    """A model that answers with the question's words but never in the question's order: the
    cache keeps no answer that repeats the question (chatbot/cache/echo.py), and these tests
    are about what it does with answers it keeps. Paraphrases still get agreeing answers."""
    return "Thanks for asking. Here is what I know about: " + " ".join(
        reversed(re.findall(r"\w+", question))
    )


@pytest.fixture
def upstream(upstream: UpstreamSimulator) -> Iterator[UpstreamSimulator]:
    upstream.answer = topic_answer
    yield upstream
    upstream.answer = default_answer
