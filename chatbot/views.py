from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from chatbot.copy import normalise_locale
from chatbot.proactive import greeting_for

MAX_PATH_CHARS = 500


def demo_store(request: HttpRequest) -> HttpResponse:
    """A sample online-store page with the chat widget embedded the way a customer would."""
    return render(request, "demo/store.html", {"locale": request.GET.get("locale", "")})


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
