"""Conversations in the admin: transcripts with each bot answer's source and trace."""

from django.contrib import admin

from chatbot.models import (
    AgentNote,
    AgentPresence,
    AgentProfile,
    AssignmentEvent,
    Conversation,
    Feedback,
    LeftMessage,
    Message,
    Team,
)


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ("created_at", "role", "text", "source", "client_id", "trace")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class AgentNoteInline(admin.TabularInline):
    model = AgentNote
    extra = 0
    fields = ("created_at", "author", "text")
    readonly_fields = ("created_at", "author")


class LeftMessageInline(admin.TabularInline):
    model = LeftMessage
    extra = 0
    fields = ("created_at", "email", "text")
    readonly_fields = fields


class AssignmentEventInline(admin.TabularInline):
    """Who gave the conversation to whom: the audit trail, read-only."""

    model = AssignmentEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "actor", "from_agent", "to_agent", "to_team")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "public_id",
        "status",
        "locale",
        "handoff_reason",
        "assigned_to",
        "rating",
        "created_at",
        "updated_at",
    )
    list_filter = ("status", "locale", "handoff_reason", "team", "rating")
    search_fields = ("public_id", "messages__text", "left_messages__email")
    readonly_fields = (
        "public_id",
        "created_at",
        "updated_at",
        "queued_at",
        "claimed_at",
        "first_agent_reply_at",
        "last_visitor_message_at",
        "closed_at",
    )
    exclude = ("visitor_token",)
    inlines = [MessageInline, AgentNoteInline, LeftMessageInline, AssignmentEventInline]


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


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    """Each agent's auto-assignment capacity (empty: HANDOFF_AGENT_CAPACITY) and notification
    preferences (the agent sets those in the console)."""

    list_display = ("user", "capacity", "last_assigned_at", "notify_sound", "notify_desktop")
    readonly_fields = ("last_assigned_at",)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "role", "source", "short_text", "created_at")
    list_filter = ("role", "source")
    search_fields = ("text", "conversation__public_id")
    readonly_fields = (
        "conversation",
        "role",
        "text",
        "client_id",
        "reply_to",
        "source",
        "trace",
        "created_at",
    )

    @admin.display(description="text")
    def short_text(self, obj: Message) -> str:
        return obj.text[:80]


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ("message", "value", "comment", "created_at")
    list_filter = ("value",)
