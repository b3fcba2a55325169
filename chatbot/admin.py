"""Conversations in the admin: transcripts with each bot answer's source and trace."""

from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from chatbot.appearance import PREVIEW_FIELDS, embed_snippet
from chatbot.models import (
    AgentNote,
    AgentPresence,
    AwayMessage,
    Conversation,
    Feedback,
    LeftMessage,
    Message,
    OpeningHours,
    PageGreeting,
    WidgetAppearance,
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
    list_filter = ("status", "locale", "handoff_reason", "rating")
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
    inlines = [MessageInline, AgentNoteInline, LeftMessageInline]


@admin.register(LeftMessage)
class LeftMessageAdmin(admin.ModelAdmin):
    list_display = ("email", "conversation", "created_at")
    search_fields = ("email", "text")


@admin.register(AgentPresence)
class AgentPresenceAdmin(admin.ModelAdmin):
    list_display = ("user", "status", "last_seen_at")


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


@admin.register(OpeningHours)
class OpeningHoursAdmin(admin.ModelAdmin):
    """When the team answers; the widget says when it is back outside these (docs/console.md)."""

    list_display = ("weekday", "opens", "closes")
    list_filter = ("weekday",)


@admin.register(AwayMessage)
class AwayMessageAdmin(admin.ModelAdmin):
    list_display = ("locale", "text")


@admin.register(PageGreeting)
class PageGreetingAdmin(admin.ModelAdmin):
    """Proactive greetings and suggested questions per page (docs/widget.md)."""

    list_display = ("path_pattern", "locale", "greeting", "delay_s", "order", "active")
    list_editable = ("order", "active")
    list_filter = ("locale", "active")


@admin.register(WidgetAppearance)
class WidgetAppearanceAdmin(admin.ModelAdmin):
    """One appearance per site: the list goes straight to it; its page previews the widget as
    the form has it and gives the embed snippet (docs/widget.md)."""

    change_form_template = "admin/chatbot/widgetappearance/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not WidgetAppearance.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        current = WidgetAppearance.objects.first()
        if current is not None:
            name = "admin:chatbot_widgetappearance_change"
            return HttpResponseRedirect(reverse(name, args=[current.pk]))
        if self.has_add_permission(request):
            return HttpResponseRedirect(reverse("admin:chatbot_widgetappearance_add"))
        return super().changelist_view(request, extra_context)

    def render_change_form(
        self, request: HttpRequest, context: dict, *args: object, **kwargs: object
    ) -> HttpResponse:
        appearance = context.get("original") or WidgetAppearance()
        server = request.build_absolute_uri("/").rstrip("/")
        context["snippet"] = embed_snippet(appearance, server=server)
        context["preview_query"] = urlencode(
            {name: getattr(appearance, name) for name in PREVIEW_FIELDS}
        )
        return super().render_change_form(request, context, *args, **kwargs)
