"""Conversations in the admin: transcripts with each bot answer's source and trace, rendered
to read (who said what and when; a bot answer's summary and its stages as a table), not as
raw JSON."""

import json
import uuid
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from chatbot import answer_facts
from chatbot.attachments import files
from chatbot.handoff.models import AgentNote, AgentProfile, AssignmentEvent, LeftMessage
from chatbot.handoff.selectors import agent_name
from chatbot.models import (
    Attachment,
    Conversation,
    CspReport,
    Feedback,
    Message,
    PageGreeting,
    WidgetAppearance,
)
from chatbot.privacy import services as privacy
from chatbot.trace_labels import decision_name, faq_decision_name, source_name
from chatbot.widget_config.appearance import PREVIEW_FIELDS, embed_snippet
from chatbot.widget_config.proactive import shadowing_greeting
from knowledge.admin_languages import LanguageFilter, language_column


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def trace_summary(trace: dict[str, Any]) -> list[str]:
    """A bot answer's trace in a line: source, score, model, tokens, cost, timings (labels in
    the admin user's language, the same words as the console's trace line)."""
    parts = []
    if trace.get("source"):
        parts.append(gettext("source {source}").format(source=source_name(trace["source"])))
    if trace.get("decision"):
        decision = faq_decision_name(trace["decision"])
        parts.append(gettext("decision {decision}").format(decision=decision))
    if trace.get("score") is not None:
        parts.append(gettext("score {score}").format(score=f"{float(trace['score']):.3f}"))
    if trace.get("model"):
        parts.append(gettext("model {model}").format(model=trace["model"]))
    if trace.get("prompt_tokens") is not None or trace.get("completion_tokens") is not None:
        parts.append(
            gettext("tokens {prompt}+{completion}").format(
                prompt=trace.get("prompt_tokens") or 0,
                completion=trace.get("completion_tokens") or 0,
            )
        )
    if trace.get("cost") is not None:
        parts.append(gettext("cost ${cost}").format(cost=f"{float(trace['cost']):.5f}"))
        # The answering call's cost; attempts given up cost too (a walk read $0.00746 beside a
        # "Cost usd" of 0.35346 on the same page).
        spent = sum(float(step.get("cost") or 0.0) for step in trace.get("steps", ()))
        if spent > float(trace["cost"]) + 5e-6:
            parts.append(gettext("all attempts ${cost}").format(cost=f"{spent:.5f}"))
    if trace.get("ttft_ms") is not None:
        parts.append(gettext("first token {ms} ms").format(ms=round(trace["ttft_ms"])))
    if trace.get("total_ms") is not None:
        parts.append(gettext("total {ms} ms").format(ms=round(trace["total_ms"])))
    if trace.get("grounded") is False:
        parts.append(gettext("ungrounded"))
    return parts


def trace_steps(trace: dict[str, Any]) -> list[dict[str, Any]]:
    steps = []
    for step in trace.get("steps") or []:
        if not isinstance(step, dict):
            continue
        tokens = ""
        if step.get("prompt_tokens") is not None or step.get("completion_tokens") is not None:
            tokens = f"{step.get('prompt_tokens') or 0}+{step.get('completion_tokens') or 0}"
        steps.append(
            {
                **{k: step.get(k) for k in ("elapsed_ms", "model", "cost")},
                "stage": source_name(step.get("stage") or ""),
                "decision": decision_name(step.get("decision") or ""),
                "score": round(step["score"], 3)
                if isinstance(step.get("score"), float)
                else step.get("score"),
                "tokens": tokens,
                "detail": [(k, _value(v)) for k, v in (step.get("detail") or {}).items()],
            }
        )
    return steps


def _message_display(m: Message) -> dict[str, Any]:
    trace = m.trace if isinstance(m.trace, dict) else {}
    feedback = getattr(m, "feedback", None)
    who = m.get_role_display()
    if m.role == Message.Role.AGENT and m.author_id:
        who = f"{who}: {agent_name(m.author)}"
    return {
        "id": m.id,
        "role": m.role,
        "who": who,
        "created": m.created_at,
        "source": source_name(m.source) if m.source else "",
        "text": m.text,
        "summary": trace_summary(trace) if m.role == Message.Role.BOT else [],
        "steps": trace_steps(trace) if m.role == Message.Role.BOT else [],
        "citations": m.citations if isinstance(m.citations, list) else [],
        "feedback": (
            f"{feedback.get_value_display()}"
            + (f" — {feedback.comment}" if feedback.comment else "")
            if feedback
            else ""
        ),
    }


def transcript_html(conversation: Conversation) -> SafeString:
    messages = (
        Message.objects.filter(conversation=conversation)
        .select_related("feedback", "author")
        .order_by("id")
    )
    return render_to_string(
        "admin/chatbot/transcript.html", {"messages": [_message_display(m) for m in messages]}
    )


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
        language_column,
        "handoff_reason",
        "assigned_to",
        "rating",
        "created_at",
        "updated_at",
    )
    list_filter = ("status", LanguageFilter, "handoff_reason", "team", "rating")
    # A visitor to export or erase is found by a conversation id, an email or a verified user id.
    search_fields = (
        "public_id",
        "messages__text",
        "left_messages__email",
        "visitor_context__verified_email",
        "visitor_context__verified_user_id",
    )
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
    inlines = [AgentNoteInline, LeftMessageInline, AssignmentEventInline]

    actions = ["visitor_export", "visitor_erase"]

    def get_readonly_fields(self, request, obj=None) -> tuple[str, ...]:
        return (*super().get_readonly_fields(request, obj), "transcript")

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        """An email address finds its visitor as the `visitor_data` command does (whole
        addresses, transcript emails too, the verified user's other conversations): a substring
        search put Joann's conversation beside Ann's, ready for one bulk erase."""
        term = search_term.strip()
        if privacy.looks_like_email(term):
            found = privacy.visitor_conversations(email=term)
            return queryset.filter(pk__in=[c.pk for c in found]), False
        return super().get_search_results(request, queryset, search_term)

    @admin.action(description=_("Export the visitors' data (JSON)"), permissions=["view"])
    def visitor_export(self, request: HttpRequest, queryset) -> HttpResponse:
        """GDPR access: everything about the selected conversations' visitors, as a download."""
        found = privacy.visitor_conversations_of(conversations=list(queryset))
        data = privacy.visitor_data_export(
            conversations=found, actor=request.user, found_by="admin"
        )
        response = HttpResponse(
            json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json"
        )
        response["Content-Disposition"] = 'attachment; filename="visitor-data.json"'
        return response

    @admin.action(description=_("Erase the visitors' data"), permissions=["delete"])
    def visitor_erase(self, request: HttpRequest, queryset) -> HttpResponse | None:
        """GDPR erasure, after a page listing what goes."""
        found = privacy.visitor_conversations_of(conversations=list(queryset))
        if request.POST.get("confirm_erase") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": gettext("Erase the visitors' data"),
                "opts": self.model._meta,
                "conversations": found,
                "submit_label": gettext("Erase %(count)s conversation(s)") % {"count": len(found)},
                "selected_ids": [str(pk) for pk in queryset.values_list("pk", flat=True)],
                "action": request.POST.get("action", ""),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(
                request, "admin/chatbot/conversation/erase_confirm.html", context
            )
        erased = privacy.visitor_data_erase(
            conversations=found, actor=request.user, found_by="admin"
        )
        self.message_user(request, gettext("%(count)s conversation(s) erased.") % {"count": erased})
        return None

    @admin.display(description=_("transcript"))
    def transcript(self, obj: Conversation) -> SafeString:
        return transcript_html(obj) if obj.pk else SafeString("")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "role", "source", "short_text", "created_at")
    list_filter = ("role", "source")
    search_fields = ("text", "conversation__public_id")
    readonly_fields = (
        "conversation",
        "role",
        "author",
        "text",
        "client_id",
        "reply_to",
        "source",
        "trace_readable",
        "created_at",
        *answer_facts.COLUMNS,
        "offer_taken",
    )
    exclude = ("trace", "citations")

    @admin.display(description=_("trace"))
    def trace_readable(self, obj: Message) -> SafeString:
        """The summary and the stages as on the conversation's page, then the stored JSON
        indented (for what the table leaves out)."""
        if not obj.trace:
            return SafeString("—")
        shown = render_to_string(
            "admin/chatbot/transcript.html", {"messages": [_message_display(obj)]}
        )
        raw = json.dumps(obj.trace, ensure_ascii=False, indent=2, sort_keys=True)
        return format_html(
            '{}<details><summary>JSON</summary><pre style="white-space: pre-wrap">{}</pre>'
            "</details>",
            shown,
            raw,
        )

    @admin.display(description=_("text"))
    def short_text(self, obj: Message) -> str:
        return obj.text[:80]


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ("message", "value", "comment", "created_at")
    list_filter = ("value",)


AVATAR_MAX_BYTES = 2 * 1024 * 1024
AVATAR_SIZE = (96, 96)


class AgentProfileForm(forms.ModelForm):
    class Meta:
        model = AgentProfile
        fields = ["user", "capacity", "avatar", "notify_sound", "notify_desktop", "notify_title"]

    def clean_avatar(self) -> object:
        """Stored re-encoded by Pillow at 96 px (no metadata, nothing but pixels), under a new
        name each time, so its address changes with it and visitors' caches may keep it."""
        avatar = self.cleaned_data.get("avatar")
        if not isinstance(avatar, UploadedFile):
            return avatar  # unchanged, or cleared
        if avatar.size > AVATAR_MAX_BYTES:
            raise forms.ValidationError(gettext("The photo is over 2 MB."))
        data = avatar.read()
        small = None
        if files.sniff(data) in Attachment.IMAGE_TYPES:
            small = files.image_thumbnail(data, AVATAR_SIZE)
        if small is None:
            raise forms.ValidationError(gettext("Not a PNG, JPEG, GIF or WebP image."))
        return ContentFile(small.data, name=f"{uuid.uuid4().hex}{small.extension}")


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    """Each agent's auto-assignment capacity (empty: HANDOFF_AGENT_CAPACITY), photo (shown to
    visitors beside their messages) and notification preferences (the agent sets those in the
    console). Here, not with the handoff's other admins (chatbot/handoff/admin.py): the photo's
    form re-encodes it with chatbot.attachments, which imports the handoff."""

    form = AgentProfileForm
    list_display = ("user", "capacity", "last_assigned_at", "notify_sound", "notify_desktop")
    readonly_fields = ("last_assigned_at",)


@admin.register(PageGreeting)
class PageGreetingAdmin(admin.ModelAdmin):
    """Proactive greetings and suggested questions per page (docs/widget.md)."""

    list_display = ("path_pattern", "locale", "greeting", "delay_s", "order", "active")
    list_editable = ("order", "active")
    list_filter = ("locale", "active")

    def save_model(self, request: HttpRequest, obj: PageGreeting, form, change: bool) -> None:
        """Says when an earlier rule takes this one's pages: a new rule at the same order as the
        demo's saved fine and never showed, the older rule winning the tie (a walk)."""
        super().save_model(request, obj, form, change)
        first = shadowing_greeting(obj)
        if first is not None:
            messages.warning(
                request,
                gettext(
                    "“%(other)s” (order %(order)s) comes first on the pages this rule matches, so "
                    "its greeting shows there instead. Give this rule a lower order number than "
                    "that one, or that one a higher number."
                )
                % {"other": first, "order": first.order},
            )


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
        context["allowed_origins"] = ", ".join(settings.CHAT_ALLOWED_ORIGINS)
        context["preview_fields"] = " ".join(PREVIEW_FIELDS)
        context["preview_query"] = urlencode(
            {name: getattr(appearance, name) for name in PREVIEW_FIELDS}
        )
        return super().render_change_form(request, context, *args, **kwargs)


@admin.register(CspReport)
class CspReportAdmin(admin.ModelAdmin):
    """What browsers reported the Content-Security-Policy blocked; read-only."""

    list_display = ("last_seen", "directive", "blocked_uri", "document_uri", "count")
    list_filter = ("directive", "disposition")
    search_fields = ("document_uri", "blocked_uri", "source_file")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
