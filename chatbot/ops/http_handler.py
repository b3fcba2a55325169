"""Django's ASGI handler without the reference cycle each HTTP request left behind (Django
ticket #36700): `listen_for_disconnect` raised `RequestAborted` when daphne said the client had
gone (it says so after every response), `handle` re-raised it from `task.result()`, and the
exception's traceback held `handle`'s frame, which held the task, which held the exception. The
request, its body and its response then waited for a full garbage collection, which this
process makes rare (chatbot/ops/warmup.py): a security walk grew a process by each body's
size, and 400 posts of 2 MB grew one by 800 MB for good; now they level off about 215 MB up
(tests/ops/test_request_bodies.py).

On Django 5.2 `handle` treats a listener that returns exactly as one that raised: the request
is cancelled by `asyncio.wait(FIRST_COMPLETED)` either way. Django 6.1 rewrites `handle` around a
TaskGroup where only a raising listener cancels the request: look again before upgrading."""

from typing import Any

from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler


class CycleFreeASGIHandler(ASGIHandler):
    async def listen_for_disconnect(self, receive: Any) -> None:
        try:
            await super().listen_for_disconnect(receive)
        except RequestAborted:
            return
