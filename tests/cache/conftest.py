import pytest
from django.core.cache import cache

from chatbot.cache.index import INSERTS_KEY, REMOVALS_KEY, reset_index


@pytest.fixture(autouse=True)
def _fresh_cache_index(settings) -> None:
    """Each test's database starts empty, so the per-process index must too."""
    settings.CHAT_STORED_ANSWER_TOKEN_DELAY_S = 0.0
    reset_index()
    cache.delete_many([INSERTS_KEY, REMOVALS_KEY])
    yield
    reset_index()
