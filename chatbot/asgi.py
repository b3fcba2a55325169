"""ASGI entry point: HTTP through Django, websockets through Channels behind an origin check."""

import asyncio
import logging
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

from chatbot.ops.http_handler import CycleFreeASGIHandler  # noqa: E402  (needs the settings)

django_asgi_app = CycleFreeASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs the app registry)

from chatbot.answering import HAND_OVER_TIMEOUT_S, hand_over_running_answers  # noqa: E402
from chatbot.llm.client import clients_close  # noqa: E402
from chatbot.ops.knowledge_follow import follow_in_background  # noqa: E402
from chatbot.ops.shutdown import exit_stuck_shutdown  # noqa: E402
from chatbot.ops.warmup import warm_up_in_background  # noqa: E402
from chatbot.routing import websocket_urlpatterns  # noqa: E402
from chatbot.security.origins import chat_origin_validator  # noqa: E402
from chatbot.security.proxy import ForwardedClientMiddleware  # noqa: E402

logger = logging.getLogger(__name__)

# Past the answers' hand-over, short of a supervisor's wait before SIGKILL (30 s in
# deploy/compose.yaml and the systemd units): daphne itself waits for its consumers unbounded.
SHUTDOWN_DEADLINE_S = HAND_OVER_TIMEOUT_S + 10.0


def hand_over_on_daphne_shutdown() -> None:
    """On SIGTERM daphne cancels its consumers and stops; the answers being written run as
    tasks of their own and would die with the process, their claims left to lapse. This
    stops them first, releasing the claims (docs/operations.md, "Rolling restarts"), then
    closes the model clients' connections (left open, aiohttp logs an error for each). A process
    still there `SHUTDOWN_DEADLINE_S` after SIGTERM logs where it waits and exits
    (chatbot/ops/shutdown.py). Only under daphne: its Twisted reactor runs the "before
    shutdown" triggers on the event loop."""
    if "daphne.server" not in sys.modules:
        return
    from twisted.internet import defer, reactor

    def hand_over() -> defer.Deferred:
        async def run() -> None:
            handed = await hand_over_running_answers()
            logger.info("shutdown: %d answers being written handed over", handed)
            await clients_close()

        asyncio.get_running_loop().call_later(
            SHUTDOWN_DEADLINE_S, exit_stuck_shutdown, SHUTDOWN_DEADLINE_S
        )
        return defer.Deferred.fromFuture(asyncio.ensure_future(run()))

    reactor.addSystemEventTrigger("before", "shutdown", hand_over)


warm_up_in_background()
follow_in_background()
hand_over_on_daphne_shutdown()

application = ForwardedClientMiddleware(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": chat_origin_validator(URLRouter(websocket_urlpatterns)),
        }
    )
)
