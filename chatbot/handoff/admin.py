"""The handoff's models in the admin: teams, presence, opening hours, away messages and left
messages. Agents' profiles (photo, capacity) and the conversation page's notes, left messages
and assignment trail are chatbot/admin.py's: they use chatbot.attachments and the conversation
admin, which import the handoff."""

from django.contrib import admin

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


@admin.register(AwayMessage)
class AwayMessageAdmin(admin.ModelAdmin):
    list_display = ("locale", "text")
