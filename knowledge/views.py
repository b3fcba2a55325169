"""Staff pages of the FAQ store outside the model admin."""

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from knowledge.models import FAQ
from knowledge.quality import MAX_PHRASINGS, locale_quality


@staff_member_required
@permission_required("knowledge.view_faq", raise_exception=True)
def matching_quality(request: HttpRequest) -> HttpResponse:
    """Per locale: the model and its operating point with the wrong rate measured for it, the
    FAQs whose own phrasings the matcher does not recognise, and FAQs that overlap."""
    locales = sorted(set(FAQ.objects.filter(active=True).values_list("locale", flat=True)))
    names = dict(settings.LANGUAGES)
    reports = [(names.get(locale, locale), locale_quality(locale=locale)) for locale in locales]
    context = {
        **admin.site.each_context(request),
        "title": "FAQ matching quality",
        "reports": reports,
        "max_phrasings": MAX_PHRASINGS,
    }
    return render(request, "admin/knowledge/quality.html", context)
