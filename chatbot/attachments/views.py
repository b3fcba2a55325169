"""Upload and download of attachments over HTTP (not the websocket: files are big and binary).

The visitor's upload is authenticated by the conversation id and token the widget holds, comes
from other sites (CORS for CHAT_ALLOWED_ORIGINS, never cookies) and is exempt from CSRF for
that reason; the agent's goes through the session and CSRF, for the conversation's owner only.
Files are served only through signed URLs (chatbot.attachment_links)."""

import re
from urllib.parse import urlparse

from asgiref.sync import async_to_sync
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chatbot import attachment_links, services, visitor_copy
from chatbot.attachments.services import (
    AttachmentError,
    agent_attachment_store,
    attachment_check,
    visitor_attachment_store,
)
from chatbot.handoff.errors import HandoffError
from chatbot.handoff.views import agent_required
from chatbot.inbox import visitor
from chatbot.models import Attachment
from chatbot.protocol import retry_after_s
from chatbot.security.body_limits import FORM_OVERHEAD_BYTES
from chatbot.security.origins import allowed_origins
from chatbot.security.ratelimit import (
    ClientAction,
    client_allowed,
    request_client_ip,
    visitor_message_allowed,
)

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

ERROR_TEXTS = {
    "too_large": _("That file is too large to send."),
    "type_not_allowed": _("Only images (PNG, JPEG, GIF, WebP), PDF and text files can be sent."),
    "unreadable": _("That image could not be read."),
    "infected": _("That file was refused by the virus scan."),
    "invalid": _("That file could not be sent. Please try again."),
    "forbidden": _("This conversation could not be opened. Please reload the page."),
    "rate_limited": _("You are sending messages quickly. Please wait a moment and try again."),
}
STATUS = {"too_large": 413, "forbidden": 403, "rate_limited": 429}
FILE_CSP = "default-src 'none'; sandbox"


def _cors(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Lets the widget on a site allowed to open the chat socket read the response; no
    credentials, so the chat server's cookies never ride along."""
    origin = request.headers.get("Origin", "")
    validator = OriginValidator(None, allowed_origins())
    if origin and validator.valid_origin(urlparse(origin)):
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "POST"
        response["Access-Control-Max-Age"] = "600"
        response["Vary"] = "Origin"
    return response


def _error(request: HttpRequest, code: str, locale: str, **extra: object) -> HttpResponse:
    body = {"error": code, "text": visitor_copy.render(ERROR_TEXTS[code], locale), **extra}
    return _cors(request, JsonResponse(body, status=STATUS.get(code, 400)))


def _too_long(request: HttpRequest) -> bool:
    """Refuses a body over the limit before Django reads it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    return length > settings.CHAT_ATTACHMENT_MAX_BYTES + FORM_OVERHEAD_BYTES


@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
def visitor_upload(request: HttpRequest) -> HttpResponse:
    """A visitor's file: fields `conversation`, `token`, `client_id`, `file` and, for a
    signed-in visitor, `user_id`, `user_hash`, `user_name`, `user_email`. A
    conversation not stored yet (the widget's first hello) is stored now, as a first message
    would store it."""
    if request.method == "OPTIONS":
        return _cors(request, HttpResponse(status=204))
    locale = visitor_copy.normalise_locale(request.GET.get("locale"))
    if _too_long(request):
        return _error(request, "too_large", locale)
    public_id = request.POST.get("conversation", "")
    token = request.POST.get("token", "")
    client_id = request.POST.get("client_id", "")
    upload = request.FILES.get("file")
    if upload is None or not CLIENT_ID.match(client_id):
        return _error(request, "invalid", locale)
    client = request_client_ip(request)
    # A signed-in visitor's conversation takes their signature too, as on the socket
    # (chatbot.security.identity): its token alone is not enough once it belongs to a verified
    # user.
    identity = visitor.context_from_query(
        request.POST.dict(), user_agent="", identity_secret=settings.CHAT_IDENTITY_SECRET
    ).identity
    conversation, exists = visitor.conversation_open_as(
        public_id=public_id, token=token, identity=identity
    )
    if conversation is None:
        if exists or not services.pending_token_valid(public_id=public_id, token=token):
            return _error(request, "forbidden", locale)
        allowed, retry_after = async_to_sync(client_allowed)(client, ClientAction.CONVERSATION)
        if not allowed:
            return _error(request, "rate_limited", locale, retry_after=retry_after_s(retry_after))
        conversation = services.conversation_store_pending(
            public_id=public_id, token=token, locale=locale
        )
        if conversation is None:
            return _error(request, "forbidden", locale)
        if identity is not None:
            visitor.visitor_context_save(
                conversation_id=conversation.pk, context=visitor.Context(identity=identity)
            )
    allowed, retry_after = async_to_sync(visitor_message_allowed)(public_id, client)
    if not allowed:
        return _error(request, "rate_limited", locale, retry_after=retry_after_s(retry_after))
    try:
        checked = attachment_check(data=upload.read(), name=upload.name or "")
    except AttachmentError as err:
        return _error(request, err.code, locale)
    message, created = visitor_attachment_store(
        conversation=conversation, client_id=client_id, checked=checked
    )
    body = {"message": services.message_payload(message), "duplicate": not created}
    return _cors(request, JsonResponse(body, status=201 if created else 200))


@require_POST
@agent_required
def agent_upload(request: HttpRequest, public_id: str) -> HttpResponse:
    """The owner's file for their visitor: fields `client_id` and `file`."""
    locale = visitor_copy.normalise_locale(request.LANGUAGE_CODE)
    if _too_long(request):
        return _error(request, "too_large", locale)
    client_id = request.POST.get("client_id", "")
    upload = request.FILES.get("file")
    if upload is None or not CLIENT_ID.match(client_id):
        return _error(request, "invalid", locale)
    try:
        checked = attachment_check(data=upload.read(), name=upload.name or "")
        message, created = agent_attachment_store(
            public_id=public_id, agent=request.user, client_id=client_id, checked=checked
        )
    except AttachmentError as err:
        return _error(request, err.code, locale)
    except HandoffError as err:
        return JsonResponse({"error": err.code}, status=404 if err.code == "not_found" else 403)
    body = {"message": services.message_payload(message), "duplicate": not created}
    return JsonResponse(body, status=201 if created else 200)


@require_GET
def attachment_file(request: HttpRequest, token: str) -> FileResponse:
    """The file (or its thumbnail) a signed URL names, as the type it was sniffed to be: images
    inline, anything else as a download; never sniffed again by the browser, never able to run
    script (sandbox)."""
    found = attachment_links.unsign(token)
    if found is None:
        raise Http404
    attachment_id, thumbnail = found
    attachment = Attachment.objects.filter(pk=attachment_id).first()
    stored = None if attachment is None else attachment.thumbnail if thumbnail else attachment.file
    if not stored:
        raise Http404
    image = attachment.is_image
    if thumbnail:
        content_type = "image/png" if stored.name.endswith(".png") else "image/jpeg"
    elif attachment.content_type == "text/plain":
        content_type = "text/plain; charset=utf-8"
    else:
        content_type = attachment.content_type
    response = FileResponse(
        stored.open("rb"),
        content_type=content_type,
        as_attachment=not image,
        filename=attachment.name,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cross-Origin-Resource-Policy"] = "cross-origin"  # shown on the sites that embed
    response["Cache-Control"] = "private, max-age=3600"
    return response
