"""Signed, expiring URLs for attachments (django.core.signing): the link in a message opens
the file for CHAT_ATTACHMENT_URL_MAX_AGE_S, for whoever holds it, and nothing else does. Beside
the core's message payload, which carries them; chatbot.attachments stores and serves files."""

from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse

from chatbot.models import Attachment

SALT = "chatbot.attachment"


def url(attachment: Attachment, *, thumbnail: bool = False) -> str:
    token = signing.dumps({"a": attachment.pk, "t": int(thumbnail)}, salt=SALT, compress=True)
    return reverse("attachment-file", args=[token])


def unsign(token: str) -> tuple[int, bool] | None:
    """(attachment id, thumbnail?) of a valid, unexpired token; None otherwise."""
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.CHAT_ATTACHMENT_URL_MAX_AGE_S)
    except signing.BadSignature:  # SignatureExpired is one
        return None
    return int(data["a"]), bool(data["t"])


def attachment_payload(attachment: Attachment) -> dict[str, Any]:
    """The `attachment` of a message frame (docs/protocol.md); URLs are relative to the chat
    server, which the widget resolves against its own origin."""
    return {
        "name": attachment.name,
        "size": attachment.size,
        "content_type": attachment.content_type,
        "image": attachment.is_image,
        "url": url(attachment),
        "thumbnail_url": url(attachment, thumbnail=True) if attachment.thumbnail else None,
    }
