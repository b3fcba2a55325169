"""Websocket origin checking: the chat socket takes the site's own hosts plus the sites allowed
to embed the widget; the agent console's socket takes only the site's own exact origin (scheme,
host and port), since a page elsewhere could use an agent's session cookie through it."""

from typing import Any
from urllib.parse import urlparse

from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


def allowed_origins() -> list[str]:
    return [*settings.ALLOWED_HOSTS, *settings.CHAT_ALLOWED_ORIGINS]


def chat_origin_validator(application):
    return OriginValidator(application, allowed_origins())


def chat_origin_allowed(origin: str | None) -> bool:
    """Whether the chat socket would take a handshake from this Origin (the same validator)."""
    return OriginValidator(None, allowed_origins()).valid_origin(
        urlparse(origin) if origin else None
    )


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


def _secure(scope: dict[str, Any]) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:  # ("HTTP_X_FORWARDED_PROTO", "https"): trusted only when the setting says so
        name = proxy[0].removeprefix("HTTP_").replace("_", "-").lower().encode()
        return _header(scope, name) == proxy[1]
    return False


def same_origin(scope: dict[str, Any]) -> bool:
    """The Origin header is this site's own: the scheme the client used and the Host it asked
    for (a host Django accepts), or one of CONSOLE_ALLOWED_ORIGINS."""
    origin, host = _header(scope, b"origin"), _header(scope, b"host")
    if not origin:
        return False
    if origin.lower() in (o.lower() for o in settings.CONSOLE_ALLOWED_ORIGINS):
        return True
    if not host or not validate_host(split_domain_port(host)[0], settings.ALLOWED_HOSTS):
        return False
    scheme = "https" if _secure(scope) else "http"
    return origin.lower() == f"{scheme}://{host}".lower()


class SameOriginValidator:
    """Refuses a websocket whose Origin is not exactly this site (see `same_origin`)."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not same_origin(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
