"""The visitor's address behind trusted proxies, for every part of Django: with
CHAT_TRUSTED_PROXY_COUNT set, the ASGI scope's `client` is the address the first trusted proxy
saw; unset, no header is trusted. Why not daphne's `--proxy-headers`: docs/deploy.md, "Django
behind nginx"."""

from typing import Any

from django.conf import settings

from chatbot.security.ratelimit import client_ip


class ForwardedClientMiddleware:
    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] in ("http", "websocket") and settings.CHAT_TRUSTED_PROXY_COUNT > 0:
            address = client_ip(scope)
            if address:
                port = (scope.get("client") or ("", 0))[1]
                scope = {**scope, "client": (address, port)}
        return await self.application(scope, receive, send)
