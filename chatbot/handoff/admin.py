"""The handoff's models in the admin: teams, presence, opening hours, away messages and left
messages. Agents' profiles (photo, capacity) and the conversation page's notes, left messages
and assignment trail are chatbot/admin.py's: they use chatbot.attachments and the conversation
admin, which import the handoff."""

from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.utils import formats, timezone
from django.utils.translation import gettext

from chatbot.handoff.models import AgentPresence, AwayMessage, LeftMessage, OpeningHours, Team


@admin.register(LeftMessage)
class LeftMessageAdmin(admin.ModelAdmin):
    list_display = ("email", "conversation", "created_at")
    search_fields = ("email", "text")


@admin.register(AgentPresence)
class AgentPresenceAdmin(admin.ModelAdmin):
    list_display = ("user", "status", "last_seen_at")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    """Inboxes of agents: a conversation given to a team waits for its members."""

    list_display = ("name", "created_at")
    search_fields = ("name",)
    filter_horizontal = ("members",)


@admin.register(OpeningHours)
class OpeningHoursAdmin(admin.ModelAdmin):
    """When the team answers; the widget says when it is back outside these (docs/console.md)."""

    list_display = ("weekday", "opens", "closes")
    list_filter = ("weekday",)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        return super().changelist_view(request, {**(extra_context or {}), "subtitle": zone_note()})

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        """The zone beside the times: a Chinese shop's 09:00-18:00 was read as UTC, the team
        "away" all Beijing afternoon, and nothing on the page said so (a walk)."""
        form = super().get_form(request, obj, change, **kwargs)
        for name in ("opens", "closes"):
            form.base_fields[name].help_text = zone_note()
        return form


def zone_note() -> str:
    """Which zone the hours are in, and its time now."""
    now = timezone.now().astimezone(ZoneInfo(settings.SUPPORT_TIME_ZONE))
    return gettext(
        "Times in the {zone} time zone (setting SUPPORT_TIME_ZONE); it is {now} there now."
    ).format(zone=settings.SUPPORT_TIME_ZONE, now=formats.date_format(now, "D H:i"))


@admin.register(AwayMessage)
class AwayMessageAdmin(admin.ModelAdmin):
    list_display = ("locale", "text")
