"""ASGI entry point: HTTP through Django, websockets through Channels behind an origin check."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs the app registry)

from chatbot.proxy import ForwardedClientMiddleware  # noqa: E402
from chatbot.routing import websocket_urlpatterns  # noqa: E402
from chatbot.security import chat_origin_validator  # noqa: E402
from chatbot.sqlite_checkpoints import start_checkpointer  # noqa: E402
from chatbot.warmup import warm_up_in_background  # noqa: E402

warm_up_in_background()
start_checkpointer()

application = ForwardedClientMiddleware(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": chat_origin_validator(URLRouter(websocket_urlpatterns)),
        }
    )
)
