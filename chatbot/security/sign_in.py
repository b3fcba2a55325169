"""The page a sign-in gets once django-axes has locked its account and address out (settings,
AXES_*): the console's look, the admin user's language, the wait in minutes."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

LOCKED_OUT_STATUS = 429


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    return render(
        request, "console/locked_out.html", {"minutes": minutes}, status=LOCKED_OUT_STATUS
    )
