from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def demo_store(request: HttpRequest) -> HttpResponse:
    """A sample online-store page with the chat widget embedded the way a customer would."""
    return render(request, "demo/store.html", {"locale": request.GET.get("locale", "")})
