"""The visitor's address behind trusted proxies, for every part of Django (docs/deploy.md).

With CHAT_TRUSTED_PROXY_COUNT set, the ASGI scope's `client` becomes the address the first
trusted proxy saw (chatbot.ratelimit.client_ip: the entry it appended to X-Forwarded-For, never
one a client wrote), so `request.META["REMOTE_ADDR"]` and the websocket consumers see the
visitor rather than nginx. Unset, nothing changes: no header is trusted. The scheme and host
behind a proxy are Django's own settings (TRUST_X_FORWARDED_PROTO, USE_X_FORWARDED_HOST).

Why not daphne's `--proxy-headers`: it takes the first X-Forwarded-For entry, which is the one
a client can write."""

from typing import Any

from django.conf import settings

from chatbot.ratelimit import client_ip


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
