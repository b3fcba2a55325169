"""The agent inbox's own data: labels on conversations, agents' saved views, the team's canned
replies, and (on PostgreSQL) the transcripts' full-text index. docs/console.md, "Inbox"."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from chatbot.handoff.models import Team
from chatbot.models import Conversation, Message


class Label(models.Model):
    """A label admins create (Django admin) and agents put on conversations."""

    name = models.CharField(max_length=50, unique=True, verbose_name=_("name"))
    color = models.CharField(
        max_length=7,
        default="#64748b",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("A colour as #rrggbb."))],
        verbose_name=_("color"),
    )
    description = models.CharField(
        max_length=200, blank=True, default="", verbose_name=_("description")
    )

    class Meta:
        verbose_name = _("label")
        verbose_name_plural = _("labels")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ConversationLabel(models.Model):
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="inbox_labels",
        verbose_name=_("conversation"),
    )
    label = models.ForeignKey(
        Label, on_delete=models.CASCADE, related_name="conversations", verbose_name=_("label")
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("added by"),
    )
    added_at = models.DateTimeField(auto_now_add=True, verbose_name=_("added at"))

    class Meta:
        verbose_name = _("conversation label")
        verbose_name_plural = _("conversation labels")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "label"], name="unique_label_per_conversation"
            )
        ]

    def __str__(self) -> str:
        return f"{self.label_id} on {self.conversation_id}"


class SavedView(models.Model):
    """An agent's named set of inbox filters (inbox.search.Filters as a dict); theirs only."""

    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="inbox_views",
        verbose_name=_("agent"),
    )
    name = models.CharField(max_length=60, verbose_name=_("name"))
    filters = models.JSONField(default=dict, verbose_name=_("filters"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "name"], name="unique_view_name_per_agent")
        ]

    def __str__(self) -> str:
        return self.name


class CannedReply(models.Model):
    """A reply the team writes, typed as `/shortcut` in the console's composer. Separate from
    approved FAQ answers (knowledge), which the console offers beside these."""

    shortcut = models.CharField(
        max_length=40,
        validators=[
            RegexValidator(r"^[\w-]+$", _("Letters, digits, - and _ only (typed after a /)."))
        ],
        verbose_name=_("shortcut"),
    )
    # The conversations' language it is for; empty: any. A shortcut may have one reply per
    # language, and the console offers the one in the conversation's language first.
    locale = models.CharField(
        max_length=16, blank=True, default="", choices=settings.LANGUAGES, verbose_name=_("locale")
    )
    # The team whose members see it; empty: every agent. A team's `/refund` may say something
    # else than everyone's (billing's refunds are not returns'): the console offers the team's
    # reply first (docs/console.md, "Canned replies").
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="canned_replies",
        verbose_name=_("team"),
    )
    title = models.CharField(max_length=100, verbose_name=_("title"))
    text = models.TextField(verbose_name=_("text"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("updated by"),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("canned reply")
        ordering = ["shortcut", "locale"]
        verbose_name_plural = _("canned replies")
        constraints = [
            models.UniqueConstraint(
                fields=["shortcut", "locale"],
                condition=models.Q(team__isnull=True),
                name="unique_canned_shortcut_per_locale",
            ),
            models.UniqueConstraint(
                fields=["shortcut", "locale", "team"],
                condition=models.Q(team__isnull=False),
                name="unique_canned_shortcut_per_team_locale",
            ),
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class MessageSearch(models.Model):
    """A message's search tokens (knowledge.documents.lexical: stems, jieba words and bigrams),
    filled off the hot path by inbox.search.search_index_catch_up. Used on PostgreSQL only, where
    the table also has `search_vector` (tsvector of the tokens, GIN-indexed; migration 0002)."""

    message = models.OneToOneField(
        Message, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    search_tokens = models.TextField()

    def __str__(self) -> str:
        return str(self.message_id)


class SearchIndexState(models.Model):
    """One row: every message with an id up to `indexed_through` has its MessageSearch row."""

    indexed_through = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return str(self.indexed_through)


class VisitorContext(models.Model):
    """What the widget said about its visitor on the conversation's latest connection (page,
    referrer, browser, time zone, the site's attributes) and the browser's visitor id, which
    links the conversations of one browser. chatbot.inbox.visitor; docs/console.md."""

    conversation = models.OneToOneField(
        Conversation,
        on_delete=models.CASCADE,
        related_name="visitor_context",
        verbose_name=_("conversation"),
    )
    # The widget's random id kept in the browser's localStorage (across "new conversation").
    visitor_id = models.CharField(
        max_length=64, blank=True, default="", db_index=True, verbose_name=_("visitor id")
    )
    page_url = models.CharField(max_length=1000, blank=True, default="", verbose_name=_("page url"))
    referrer = models.CharField(max_length=1000, blank=True, default="", verbose_name=_("referrer"))
    user_agent = models.CharField(
        max_length=500, blank=True, default="", verbose_name=_("user agent")
    )
    browser = models.CharField(max_length=60, blank=True, default="", verbose_name=_("browser"))
    os = models.CharField(max_length=30, blank=True, default="", verbose_name=_("os"))
    device = models.CharField(max_length=10, blank=True, default="", verbose_name=_("device"))
    time_zone = models.CharField(max_length=64, blank=True, default="", verbose_name=_("time zone"))
    # A JSON object of strings, as text: shown with textContent only, never as HTML.
    attributes = models.TextField(blank=True, default="{}", verbose_name=_("attributes"))
    # The embedding site's user, only when its signature matched (chatbot.security.identity):
    # their conversations open on any device. The name and email only when the signature covered
    # them.
    verified_user_id = models.CharField(
        max_length=128, blank=True, default="", db_index=True, verbose_name=_("verified user id")
    )
    verified_name = models.CharField(
        max_length=100, blank=True, default="", verbose_name=_("verified name")
    )
    verified_email = models.CharField(
        max_length=254, blank=True, default="", verbose_name=_("verified email")
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("visitor context")
        verbose_name_plural = _("visitor contexts")

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.visitor_id or '-'}"
