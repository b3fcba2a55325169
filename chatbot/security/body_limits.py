"""How large a request body each path may send, checked by the web server before it reads the
body (chatbot/ops/daphne_server.py); in production nginx's one `client_max_body_size` (100 MB)
is only the outer bound.

Daphne reads a whole body (to disk when large) before the application sees the request, so a
view that refuses a large upload from its Content-Length answered only after the upload ended
(a 200 MB body: 7.4 s in a security walk). A body is needed only for uploads: the admin's
imports (a session cookie is required: signed-in users), and chat attachments."""

import re

from django.conf import settings

# Multipart's boundaries and other fields beside a file.
FORM_OVERHEAD_BYTES = 64 * 1024
# Uploads whose views refuse a body over the limit themselves, from its Content-Length, in the
# JSON the widget and the console read (in the visitor's language, readable from the site that
# embeds the widget): the server drops such a body unread and hands them the request without
# it. Its own plain 413 was an error the widget could not read ("the file could not be
# uploaded") and the console showed as a JSON parse error (a re-walk).
ANSWERED_BY_THE_VIEW = re.compile(
    r"^/(chat/attachments/|console/conversations/[^/]+/attachments/)$"
)


def body_limit(path: str, *, has_session: bool) -> int:
    """The largest body, in bytes, that `path` may be sent."""
    if path.startswith("/admin/") and has_session:
        return settings.KNOWLEDGE_MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES
    if path.startswith("/chat/attachments/") or (path.startswith("/console/") and has_session):
        return settings.CHAT_ATTACHMENT_MAX_BYTES + FORM_OVERHEAD_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE + FORM_OVERHEAD_BYTES


def has_session_cookie(cookie_headers: list[bytes]) -> bool:
    """Whether a Cookie header names the session cookie (its value is not checked here: the
    view does; this only keeps anonymous posts small)."""
    name = settings.SESSION_COOKIE_NAME.encode() + b"="
    return any(
        part.strip().startswith(name) for header in cookie_headers for part in header.split(b";")
    )


def view_answers_too_large(path: str) -> bool:
    return ANSWERED_BY_THE_VIEW.match(path) is not None
