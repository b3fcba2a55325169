"""Cached answers in the admin: search, hit counts, purge, promote to an FAQ in one click."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from chatbot.cache import services
from chatbot.cache.models import CachedAnswer


@admin.register(CachedAnswer)
class CachedAnswerAdmin(admin.ModelAdmin):
    list_display = (
        "short_question",
        "locale",
        "hit_count",
        "last_hit_at",
        "model",
        "knowledge_version",
        "created_at",
        "expires_at",
        "promote_link",
    )
    list_filter = ("locale", "model", "knowledge_version")
    search_fields = ("question", "answer")
    ordering = ("-hit_count", "-created_at")
    readonly_fields = (
        "question",
        "answer",
        "locale",
        "knowledge_version",
        "config_fingerprint",
        "context_key",
        "model",
        "tier",
        "origin_message_id",
        "created_at",
        "last_hit_at",
        "hit_count",
        "expires_at",
    )
    exclude = ("embedding", "normalised", "scope_key")
    actions = ["purge_selected", "promote_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("question"))
    def short_question(self, obj: CachedAnswer) -> str:
        return obj.question[:80]

    @admin.display(description=_("FAQ"))
    def promote_link(self, obj: CachedAnswer) -> str:
        url = reverse("admin:answer_cache_cachedanswer_promote", args=[obj.pk])
        # Posts the changelist's own form (it carries the CSRF token): one click, no GET write.
        return format_html(
            '<button type="submit" class="button" formaction="{}" formmethod="post">{}</button>',
            url,
            gettext("Promote to FAQ"),
        )

    def get_urls(self):  # type: ignore[no-untyped-def]
        promote = path(
            "<id:entry_id>/promote/",
            self.admin_site.admin_view(self.promote_view),
            name="answer_cache_cachedanswer_promote",
        )
        return [promote, *super().get_urls()]

    def promote_view(self, request: HttpRequest, entry_id: int) -> HttpResponseRedirect:
        if request.method != "POST" or not self.has_change_permission(request):
            return HttpResponseRedirect(reverse("admin:answer_cache_cachedanswer_changelist"))
        entry = get_object_or_404(CachedAnswer, pk=entry_id)
        faq = services.entry_promote(entry=entry, created_by=request.user.get_username())
        self.message_user(
            request,
            gettext("Promoted to FAQ “%(question)s”.") % {"question": faq.question},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:knowledge_faq_change", args=[faq.pk]))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[CachedAnswer]) -> None:
        services.entries_purge(entry_ids=list(queryset.values_list("id", flat=True)))

    def delete_model(self, request: HttpRequest, obj: CachedAnswer) -> None:
        services.entries_purge(entry_ids=[obj.pk])

    @admin.action(description=_("Purge selected entries from the cache"))
    def purge_selected(self, request: HttpRequest, queryset: QuerySet[CachedAnswer]) -> None:
        removed = services.entries_purge(entry_ids=list(queryset.values_list("id", flat=True)))
        self.message_user(
            request, gettext("Purged %(count)s entries.") % {"count": removed}, messages.SUCCESS
        )

    @admin.action(description=_("Promote selected entries to FAQs"))
    def promote_selected(self, request: HttpRequest, queryset: QuerySet[CachedAnswer]) -> None:
        promoted = 0
        for entry_id in list(queryset.values_list("id", flat=True)):
            entry = CachedAnswer.objects.filter(pk=entry_id).first()
            if entry is not None:  # an earlier promotion may have taken it as a paraphrase
                services.entry_promote(entry=entry, created_by=request.user.get_username())
                promoted += 1
        self.message_user(
            request,
            gettext("Promoted %(count)s entries to FAQs.") % {"count": promoted},
            messages.SUCCESS,
        )
