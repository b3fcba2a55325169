"""The widget's HTTP side: the demo store, a page's greeting, the origin check, the admin's
preview, agent photos."""

from csp.constants import SELF
from csp.decorators import csp_replace, csp_update
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

from chatbot.handoff.models import AgentProfile
from chatbot.models import WidgetAppearance
from chatbot.security.origins import chat_origin_allowed
from chatbot.visitor_copy import normalise_locale
from chatbot.widget_config.appearance import appearance_from, embed_snippet
from chatbot.widget_config.proactive import greeting_for

MAX_PATH_CHARS = 500


# The demo store's own look until the admin's Widget appearance is saved.
DEMO_STORE_LOOK = {
    "data-title": "Northwind Help",
    "data-title-zh-hans": "Northwind 客服",
    "data-color": "#2f5d3a",
}


def demo_store(request: HttpRequest) -> HttpResponse:
    """A sample online-store page with the chat widget embedded the way a customer would; with
    `?locale=zh-hans` the page is Chinese too (it was English around a Chinese widget). Its tag
    carries the admin's saved Widget appearance: a pilot's operator saved a title and colour
    and judged them on this page, which kept its own."""
    locale = request.GET.get("locale", "")
    page_language = "zh-hans" if locale and normalise_locale(locale) == "zh-hans" else "en"
    saved = WidgetAppearance.objects.first()
    attributes = saved.embed_attributes() if saved else dict(DEMO_STORE_LOOK)
    if locale:
        attributes["data-locale"] = locale
    context = {"page_language": page_language, "widget_attributes": attributes}
    return render(request, "demo/store.html", context)


@require_GET
@cache_control(public=True, max_age=60)
def widget_greeting(request: HttpRequest) -> JsonResponse:
    """The widget asks on page load, before any socket: public copy, so any site may read it
    (no cookies are sent or needed) and caches may keep it a minute."""
    path = request.GET.get("path", "/")[:MAX_PATH_CHARS]
    payload = greeting_for(path=path, locale=normalise_locale(request.GET.get("locale")))
    response = JsonResponse(payload)
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def widget_origin(request: HttpRequest) -> JsonResponse:
    """Whether the page asking (its Origin header) may open the chat socket. A refused handshake
    is only "connection failed" to a browser's script, so the widget asks here to tell the site
    owner to allow the site, instead of reconnecting for ever. Any site may read it."""
    # A browser sends Origin with a cross-origin fetch; the page's own word is the fallback
    # (this answer allows nothing: the socket's handshake checks the Origin header itself).
    origin = request.headers.get("Origin") or request.GET.get("origin", "")[:300] or None
    response = JsonResponse({"origin": origin, "allowed": chat_origin_allowed(origin)})
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "no-store"
    return response


@staff_member_required
@permission_required("chatbot.view_widgetappearance", raise_exception=True)
@xframe_options_sameorigin
@csp_replace({"frame-ancestors": [SELF]})
@csp_update({"img-src": ["https:"]})
def widget_preview(request: HttpRequest) -> HttpResponse:
    """A sample page with the widget as the admin's appearance form has it now (its fields in
    the query), framed by that form; the page carries the embed snippet for those values."""
    appearance = appearance_from(request.GET)
    server = request.build_absolute_uri("/").rstrip("/")
    return render(
        request,
        "widget/preview.html",
        {
            "attributes": appearance.embed_attributes(),
            "snippet": embed_snippet(appearance, server=server),
        },
    )


@require_GET
def agent_avatar(request: HttpRequest, user_id: int) -> FileResponse:
    """An agent's photo, as the widget shows it on any site: public (a name and a face the agent
    chose to show visitors), cacheable for long (the address changes with the photo)."""
    profile = AgentProfile.objects.filter(user_id=user_id).exclude(avatar="").first()
    if profile is None:
        raise Http404
    content_type = "image/png" if profile.avatar.name.endswith(".png") else "image/jpeg"
    response = FileResponse(profile.avatar.open("rb"), content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    response["Cache-Control"] = "public, max-age=86400"
    return response
