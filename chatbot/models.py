"""Conversations and their messages."""

import secrets

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


def new_public_id() -> str:
    return secrets.token_urlsafe(16)


def new_visitor_token() -> str:
    return secrets.token_urlsafe(24)


class HandoffReason(models.TextChoices):
    """Why a conversation went to the queue; labelled as the dashboard and reports word it."""

    VISITOR_REQUEST = "visitor_request", _("Visitor pressed “talk to a person”")
    VISITOR_WORDS = "visitor_words", _("Visitor asked for a person in words")
    BOT_UNSURE = "bot_unsure", _("Bot fell back repeatedly")
    NEGATIVE_FEEDBACK = "negative_feedback", _("Thumbs-down on an answer")
    MODELS_DOWN = "models_down", _("Every model down")

    @classmethod
    def label_of(cls, code: str) -> str:
        """A stored code's label; the code itself when it is no longer one of these."""
        return str(cls(code).label) if code in cls.values else code


# The analytics demo's conversations (`manage.py seed_analytics_demo`) are marked by their visitor
# token: figures leave them out once real ones exist, and nothing else reports on them.
DEMO_VISITOR_PREFIX = "analytics-demo-"


class Conversation(models.Model):
    class Status(models.TextChoices):
        BOT = "bot", _("Bot")
        QUEUED = "queued", _("Queued for an agent")
        AGENT = "agent", _("With an agent")
        CLOSED = "closed", _("Closed")

    public_id = models.CharField(
        max_length=32,
        unique=True,
        default=new_public_id,
        editable=False,
        verbose_name=_("public id"),
    )
    visitor_token = models.CharField(
        max_length=64, default=new_visitor_token, editable=False, verbose_name=_("visitor token")
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.BOT, verbose_name=_("status")
    )
    locale = models.CharField(max_length=16, default="en", verbose_name=_("locale"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    # Handoff to a person (chatbot.handoff); the timestamps belong to the latest handoff.
    handoff_reason = models.CharField(
        max_length=32,
        choices=HandoffReason.choices,
        blank=True,
        default="",
        verbose_name=_("handoff reason"),
    )
    queued_at = models.DateTimeField(null=True, blank=True, verbose_name=_("queued at"))
    # When the bot last took the conversation back (from the queue, a person, or closed):
    # visitor messages before it were written to a person, and are never the bot's to answer
    # later (chatbot.recovery).
    bot_since = models.DateTimeField(null=True, blank=True, verbose_name=_("with the bot since"))
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
        verbose_name=_("assigned to"),
    )
    claimed_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("claimed at")
    )  # the current owner got it
    # The team whose members take it (chatbot.handoff.assignment): auto-assignment gives it to
    # one of them; None is everyone's.
    team = models.ForeignKey(
        "handoff.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
        verbose_name=_("team"),
    )
    # The owner whose claim last timed out: auto-assignment passes the conversation to another.
    expired_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("expired owner"),
    )
    first_agent_reply_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("first agent reply at")
    )
    last_visitor_message_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("last visitor message at")
    )
    # Refreshed while a visitor socket is open on a queued or claimed conversation (the handoff
    # sweeper, chatbot.handoff.background): a queued one left without it leaves the queue.
    visitor_seen_at = models.DateTimeField(null=True, blank=True, verbose_name=_("visitor seen at"))
    # The newest agent message the visitor has had on screen (the widget's `read` frame).
    visitor_read_up_to = models.BigIntegerField(
        null=True, blank=True, verbose_name=_("visitor read up to")
    )
    closed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("closed at"))
    close_reason = models.CharField(
        max_length=200, blank=True, default="", verbose_name=_("close reason")
    )
    rating = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("rating"))
    rating_comment = models.TextField(blank=True, default="", verbose_name=_("rating comment"))
    # When the retention period took the visitor's personal details out (chatbot.privacy).
    anonymised_at = models.DateTimeField(null=True, blank=True, verbose_name=_("anonymised at"))

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["status", "queued_at"], name="conversation_queue_idx")]

    def __str__(self) -> str:
        return self.public_id


def attachment_path(instance: "Attachment", filename: str) -> str:
    """A random name under the month: the visitor's file name never reaches the filesystem."""
    return f"attachments/{instance.created_at:%Y/%m}/{secrets.token_urlsafe(18)}{filename}"


class Attachment(models.Model):
    """A file a visitor or an agent sent (chatbot.attachments; docs/security.md,
    "Attachments"). Its type is what its bytes are, sniffed on upload, never its name's."""

    # Shown inline, with a thumbnail; every other type is a download.
    IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

    file = models.FileField(upload_to=attachment_path, max_length=200, verbose_name=_("file"))
    thumbnail = models.FileField(
        upload_to=attachment_path, max_length=200, blank=True, verbose_name=_("thumbnail")
    )
    name = models.CharField(
        max_length=200, verbose_name=_("name")
    )  # the uploader's name for it, shown and downloaded
    size = models.PositiveBigIntegerField(verbose_name=_("size"))
    content_type = models.CharField(max_length=64, verbose_name=_("content type"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self) -> str:
        return self.name

    @property
    def is_image(self) -> bool:
        return self.content_type in self.IMAGE_TYPES


class Message(models.Model):
    # In a visitor message's trace: the bot answer whose "try again" stored this question once
    # more (`reply_to` is one-to-one, so the new answer needs a question of its own). Analytics
    # counts the question once.
    TRACE_RETRY_OF = "retry_of"

    class Role(models.TextChoices):
        VISITOR = "visitor", _("Visitor")
        BOT = "bot", _("Bot")
        AGENT = "agent", _("Agent")
        SYSTEM = "system", _("System")

    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="messages",
        verbose_name=_("conversation"),
    )
    role = models.CharField(max_length=16, choices=Role.choices, verbose_name=_("role"))
    text = models.TextField(verbose_name=_("text"))
    # Set by the client for visitor messages; makes a resend idempotent.
    client_id = models.CharField(max_length=64, null=True, blank=True, verbose_name=_("client id"))  # noqa: DJ001 - NULL is "no id"
    # For bot answers: the visitor message they answer.
    reply_to = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reply",
        verbose_name=_("reply to"),
    )
    # faq / cache / llm / fallback for bot messages; empty otherwise.
    source = models.CharField(max_length=16, blank=True, default="", verbose_name=_("source"))
    trace = models.JSONField(default=dict, blank=True, verbose_name=_("trace"))
    # For bot answers from the help centre: the sources it cites (chatbot.pipeline.base.Citation),
    # shown as links under the answer.
    citations = models.JSONField(default=list, blank=True, verbose_name=_("citations"))
    # For agent messages: who wrote it (shown to the visitor by name; the inbox's reports).
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("author"),
    )
    # A file the message carries (its text is the file's name); the bot never answers one.
    attachment = models.OneToOneField(
        Attachment,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="message",
        verbose_name=_("attachment"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    # A bot answer's facts, taken from its trace when it is stored (chatbot.answer_facts):
    # what analytics and reports aggregate in SQL, instead of reading every trace.
    first_token_ms = models.FloatField(null=True, blank=True, verbose_name=_("first token ms"))
    cost_usd = models.FloatField(default=0.0, verbose_name=_("cost usd"))
    llm_model = models.CharField(
        max_length=200, blank=True, default="", verbose_name=_("llm model")
    )
    llm_tier = models.CharField(max_length=64, blank=True, default="", verbose_name=_("llm tier"))
    llm_called = models.BooleanField(default=False, verbose_name=_("llm called"))
    faq_id = models.IntegerField(null=True, blank=True, verbose_name=_("faq id"))
    faq_score = models.FloatField(null=True, blank=True, verbose_name=_("faq score"))
    faq_decision = models.CharField(
        max_length=32, blank=True, default="", verbose_name=_("faq decision")
    )
    grounding = models.CharField(max_length=16, blank=True, default="", verbose_name=_("grounding"))
    nothing_relevant = models.BooleanField(default=False, verbose_name=_("nothing relevant"))
    models_down = models.BooleanField(default=False, verbose_name=_("models down"))
    answer_promised = models.BooleanField(default=False, verbose_name=_("answer promised"))
    tiers_skipped = models.PositiveSmallIntegerField(default=0, verbose_name=_("tiers skipped"))
    tiers_failed = models.PositiveSmallIntegerField(default=0, verbose_name=_("tiers failed"))
    tier_events = models.JSONField(default=list, blank=True, verbose_name=_("tier events"))
    offers = models.PositiveSmallIntegerField(default=0, verbose_name=_("did you mean offers"))
    # Not a fact of the trace: set when the visitor's next question took one of the offers.
    offer_taken = models.BooleanField(default=False, verbose_name=_("offer taken"))

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=Q(client_id__isnull=False),
                name="unique_client_id_per_conversation",
            )
        ]
        # The orphaned-answer sweep (chatbot.recovery) reads the last hour's visitor messages
        # every CHAT_ORPHAN_SWEEP_INTERVAL_S in every process: without it, a scan of them all
        # (docs/operations.md, "Crashes and restarts").
        indexes = [models.Index(fields=["role", "created_at"], name="message_role_created_idx")]

    def __str__(self) -> str:
        # In pickers and lists of the admin, in its user's language ("bot: …" read in Chinese).
        return gettext("%(role)s: %(text)s") % {
            "role": self.get_role_display(),
            "text": self.text[:40],
        }


class QueuedQuestion(models.Model):
    """A visitor question the fallback promised a model's answer to later (chatbot.tasks keeps
    the promise, then deletes the row). In the database, not in process memory or Redis, so the
    promise survives a restart on every deployment shape (docs/llm.md, "queued answers")."""

    message = models.OneToOneField(
        Message, on_delete=models.CASCADE, related_name="queued", verbose_name=_("message")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("queued question")
        verbose_name_plural = _("queued questions")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"queued {self.message_id}"


class Feedback(models.Model):
    class Value(models.TextChoices):
        UP = "up", _("Helpful")
        DOWN = "down", _("Not helpful")

    message = models.OneToOneField(
        Message, on_delete=models.CASCADE, related_name="feedback", verbose_name=_("message")
    )
    value = models.CharField(max_length=8, choices=Value.choices, verbose_name=_("value"))
    comment = models.TextField(blank=True, default="", verbose_name=_("comment"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("feedback")
        verbose_name_plural = _("feedbacks")

    def __str__(self) -> str:
        return f"{self.value} on {self.message_id}"


class PageGreeting(models.Model):
    """A proactive greeting and suggested questions for the pages whose path matches
    `path_pattern`; the first active match in `order` wins (chatbot.widget_config.proactive)."""

    path_pattern = models.CharField(
        max_length=200,
        help_text=_(
            'Shell-style pattern on the page\'s path: "/", "/pricing*", "*/checkout/*", '
            '"*" for every page.'
        ),
        verbose_name=_("path pattern"),
    )
    locale = models.CharField(
        max_length=16,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("Empty: every locale."),
        verbose_name=_("locale"),
    )
    greeting = models.CharField(
        max_length=300,
        blank=True,
        help_text=_("Shown beside the launcher; empty: none."),
        verbose_name=_("greeting"),
    )
    suggestions = models.TextField(
        blank=True,
        help_text=_("Suggested questions under the welcome, one per line (4 at most)."),
        verbose_name=_("suggestions"),
    )
    delay_s = models.PositiveSmallIntegerField(
        default=8,
        help_text=_("Seconds on the page before the greeting shows."),
        verbose_name=_("delay s"),
    )
    order = models.PositiveSmallIntegerField(default=0, verbose_name=_("order"))
    active = models.BooleanField(default=True, verbose_name=_("active"))

    class Meta:
        verbose_name = _("page greeting")
        verbose_name_plural = _("page greetings")
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return f"{self.path_pattern} ({self.locale or 'any locale'})"


class WidgetAppearance(models.Model):
    """The owner's look for the widget, kept so the admin can come back to it; it reaches
    visitors through the embed snippet the admin page writes from it (data-* attributes), so a
    page load needs no request for it."""

    class Position(models.TextChoices):
        RIGHT = "right", _("Bottom right")
        LEFT = "left", _("Bottom left")

    title = models.CharField(
        max_length=60, blank=True, help_text=_("Empty: “Chat with us”."), verbose_name=_("title")
    )
    title_zh_hans = models.CharField(
        _("title (简体中文)"),
        max_length=60,
        blank=True,
        help_text=_("For a widget in Chinese; empty: the title above, else “在线客服”."),
    )
    color = models.CharField(
        max_length=7,
        default="#4f46e5",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("A colour such as #4f46e5."))],
        verbose_name=_("color"),
    )
    position = models.CharField(
        max_length=5, choices=Position.choices, default=Position.RIGHT, verbose_name=_("position")
    )
    launcher_text = models.CharField(
        max_length=40,
        blank=True,
        help_text=_("Beside the launcher's icon; empty: icon only."),
        verbose_name=_("launcher text"),
    )
    locale = models.CharField(
        max_length=16,
        choices=[("", _("The visitor's browser")), *settings.LANGUAGES],
        blank=True,
        help_text=_("The widget's language; the answers follow what the visitor writes anyway."),
        verbose_name=_("locale"),
    )
    welcome_en = models.CharField(_("welcome (English)"), max_length=500, blank=True)
    welcome_zh_hans = models.CharField(_("welcome (简体中文)"), max_length=500, blank=True)
    logo_url = models.CharField(
        max_length=500,
        blank=True,
        validators=[RegexValidator(r"^(https://\S+|/\S*)$", _("An https:// address or a /path."))],
        help_text=_("An image shown in the header (https:// or a path on this server)."),
        verbose_name=_("logo url"),
    )

    class Meta:
        verbose_name = _("widget appearance")
        verbose_name_plural = _("widget appearance")

    def __str__(self) -> str:
        return str(self._meta.verbose_name).capitalize()

    def embed_attributes(self) -> dict[str, str]:
        """The script tag's data-* attributes that differ from the widget's defaults."""
        attrs = {
            "data-title": self.title,
            "data-title-zh-hans": self.title_zh_hans,
            "data-color": self.color,
            "data-position": "left" if self.position == self.Position.LEFT else "",
            "data-launcher-text": self.launcher_text,
            "data-locale": self.locale,
            "data-welcome-en": self.welcome_en,
            "data-welcome-zh-hans": self.welcome_zh_hans,
            "data-logo": self.logo_url,
        }
        return {name: value for name, value in attrs.items() if value}


class CspReport(models.Model):
    """A Content-Security-Policy violation a browser reported (chatbot.security.csp_reports): one
    row per distinct violation, counted, so a page that breaks the policy on every load is one
    row."""

    document_uri = models.CharField(max_length=500, verbose_name=_("document uri"))
    directive = models.CharField(
        max_length=100, verbose_name=_("directive")
    )  # the effective (else the violated) directive
    blocked_uri = models.CharField(
        max_length=500, blank=True, default="", verbose_name=_("blocked uri")
    )
    source_file = models.CharField(
        max_length=500, blank=True, default="", verbose_name=_("source file")
    )
    line = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("line"))
    disposition = models.CharField(
        max_length=10, blank=True, default="", verbose_name=_("disposition")
    )  # enforce / report
    sample = models.CharField(max_length=200, blank=True, default="", verbose_name=_("sample"))
    count = models.PositiveIntegerField(default=1, verbose_name=_("count"))
    first_seen = models.DateTimeField(auto_now_add=True, verbose_name=_("first seen"))
    last_seen = models.DateTimeField(
        default=timezone.now, db_index=True, verbose_name=_("last seen")
    )

    class Meta:
        verbose_name_plural = _("CSP violation reports")
        ordering = ["-last_seen"]
        verbose_name = _("CSP violation report")
        constraints = [
            models.UniqueConstraint(
                fields=["document_uri", "directive", "blocked_uri", "source_file", "line"],
                name="unique_csp_violation",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.directive} on {self.document_uri}"
