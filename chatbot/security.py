"""Websocket origin checking: the site's own hosts, plus the sites allowed to embed the widget."""

from channels.security.websocket import OriginValidator
from django.conf import settings


def allowed_origins() -> list[str]:
    return [*settings.ALLOWED_HOSTS, *settings.CHAT_ALLOWED_ORIGINS]


def chat_origin_validator(application):
    return OriginValidator(application, allowed_origins())
