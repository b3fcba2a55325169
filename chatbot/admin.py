"""Conversations in the admin: transcripts with each bot answer's source and trace."""

from django.contrib import admin

from chatbot.models import Conversation, Feedback, Message


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ("created_at", "role", "text", "source", "client_id", "trace")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("public_id", "status", "locale", "created_at", "updated_at")
    list_filter = ("status", "locale")
    search_fields = ("public_id", "messages__text")
    readonly_fields = ("public_id", "created_at", "updated_at")
    exclude = ("visitor_token",)
    inlines = [MessageInline]


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
