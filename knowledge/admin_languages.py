"""A language column and filter for admin lists: the language by its name in the admin user's
language, not its code (a Chinese lead read `zh-hans` and `en` in every list)."""

from django.conf import settings
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

# The names of the languages in settings.LANGUAGES, for readers of either language; settings
# keeps each language's own name, for the pickers a visitor chooses from.
LANGUAGE_NAMES = {"en": _("English"), "zh-hans": _("Simplified Chinese")}


def language_choices() -> list[tuple[str, object]]:
    """settings.LANGUAGES for the admin's forms, each named in the reader's language (a Chinese
    writer read "English" in the dropdowns and 英语 in the lists)."""
    return [(code, LANGUAGE_NAMES.get(code, name)) for code, name in settings.LANGUAGES]


def language_name(code: str) -> str:
    if not code:
        return "—"
    return str(LANGUAGE_NAMES.get(code) or dict(settings.LANGUAGES).get(code, code))


class LanguageFilter(admin.SimpleListFilter):
    title = _("language")
    parameter_name = "locale"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        codes = model_admin.get_queryset(request).order_by().values_list("locale", flat=True)
        return [(code, language_name(code)) for code in sorted(set(codes)) if code]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(locale=self.value()) if self.value() else queryset


@admin.display(description=_("language"), ordering="locale")
def language_column(obj: object) -> str:
    return language_name(getattr(obj, "locale", ""))
