"""The handoff's models: agents' notes, left messages, transcript requests, opening hours and
away messages, agents' presence and profiles, teams and the assignment audit trail.

They were chatbot's until the handoff became an app of its own (issue 17): each keeps its table
(`Meta.db_table`, "chatbot_..."), and the migrations that moved them run no SQL
(chatbot/handoff/migrations/0001_initial.py)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from chatbot.models import Conversation, Message


class AgentNote(models.Model):
    """A private note on a conversation: agents see it, the visitor never does."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="notes", verbose_name=_("conversation")
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, verbose_name=_("author")
    )
    text = models.TextField(verbose_name=_("text"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("agent note")
        verbose_name_plural = _("agent notes")
        db_table = "chatbot_agentnote"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.text[:40]


class LeftMessage(models.Model):
    """What a visitor left for the team when no agent was online."""

    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="left_messages",
        verbose_name=_("conversation"),
    )
    email = models.EmailField(verbose_name=_("email"))
    text = models.TextField(verbose_name=_("text"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    # The acknowledgement email went out (chatbot.handoff.mail).
    acknowledged_at = models.DateTimeField(null=True, blank=True, verbose_name=_("acknowledged at"))
    # An agent answered it from the console's inbox: their reply is an agent message of the
    # conversation, and was emailed to the visitor at reply_emailed_at.
    answered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("answered at"))
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("answered by"),
    )
    reply = models.OneToOneField(
        Message,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="left_message",
        verbose_name=_("reply"),
    )
    reply_emailed_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("reply emailed at")
    )
    # An email to the visitor's address (the acknowledgement or the reply) was given up: refused
    # for good (5xx) or after every retry. The reply codes only, never the server's text (it
    # quotes the address). Agents then know the visitor will not get it (a mail walk: it read
    # "not emailed yet" for good).
    undeliverable_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("undeliverable at")
    )
    undeliverable_error = models.CharField(
        max_length=200, blank=True, default="", verbose_name=_("undeliverable error")
    )

    class Meta:
        verbose_name = _("left message")
        verbose_name_plural = _("left messages")
        db_table = "chatbot_leftmessage"
        ordering = ["id"]
        indexes = [models.Index(fields=["answered_at", "id"], name="left_message_inbox_idx")]

    def __str__(self) -> str:
        return f"{self.email}: {self.text[:40]}"


class TranscriptEmail(models.Model):
    """A visitor asked for the conversation's transcript by email (chatbot.handoff.mail)."""

    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="transcript_emails",
        verbose_name=_("conversation"),
    )
    email = models.EmailField(verbose_name=_("email"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    # The address's owner asked for it through the link emailed to it, or it is the verified
    # visitor's own: only then does the transcript (the visitor's own words) go out.
    confirmed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("confirmed at"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))

    class Meta:
        verbose_name = _("transcript email")
        verbose_name_plural = _("transcript emails")
        db_table = "chatbot_transcriptemail"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.email}: {self.conversation_id}"


class OpeningHours(models.Model):
    """When the team answers, per weekday in SUPPORT_TIME_ZONE; several rows make split shifts.
    No rows at all means no hours are set: the team counts as open whenever an agent is."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices, verbose_name=_("weekday"))
    opens = models.TimeField(verbose_name=_("opens"))
    closes = models.TimeField(verbose_name=_("closes"))

    class Meta:
        verbose_name = _("opening hours")
        db_table = "chatbot_openinghours"
        ordering = ["weekday", "opens"]
        verbose_name_plural = _("opening hours")
        constraints = [
            models.CheckConstraint(condition=Q(closes__gt=F("opens")), name="opening_hours_order")
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"

    def clean(self) -> None:
        """Said in words before the constraint's own message ("Constraint
        "opening_hours_order" is violated") reaches the admin."""
        if self.opens is not None and self.closes is not None and self.closes <= self.opens:
            raise ValidationError(
                {"closes": _("Closing time must be after opening time (a day ends at 23:59).")}
            )


class AwayMessage(models.Model):
    """What visitors asking for a person read outside opening hours, per locale."""

    locale = models.CharField(
        max_length=16, choices=settings.LANGUAGES, unique=True, verbose_name=_("locale")
    )
    text = models.TextField(max_length=1000, verbose_name=_("text"))

    class Meta:
        verbose_name = _("away message")
        verbose_name_plural = _("away messages")
        db_table = "chatbot_awaymessage"

    def __str__(self) -> str:
        return f"{self.locale}: {self.text[:40]}"


class AgentPresence(models.Model):
    """An agent's availability. Online means status online and a console heartbeat recently."""

    class Status(models.TextChoices):
        ONLINE = "online", _("Online")
        AWAY = "away", _("Away")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="agent_presence",
        verbose_name=_("user"),
    )
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.ONLINE, verbose_name=_("status")
    )
    last_seen_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last seen at"))
    # When their last console socket closed: they keep their conversations for
    # HANDOFF_OWNER_GONE_S from then (a reload, a network blip, a database stall).
    console_closed_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("console closed at")
    )

    class Meta:
        verbose_name = _("agent presence")
        verbose_name_plural = _("agent presences")
        db_table = "chatbot_agentpresence"

    def __str__(self) -> str:
        return f"{self.user_id}: {self.status}"


class Team(models.Model):
    """An inbox of agents (billing, returns): a conversation given to a team waits in the queue
    for its members, and auto-assignment picks among them (docs/console.md, "Assignment")."""

    name = models.CharField(max_length=80, unique=True, verbose_name=_("name"))
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="teams", blank=True, verbose_name=_("members")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        db_table = "chatbot_team"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AgentProfile(models.Model):
    """An agent's own settings: how many open conversations auto-assignment may give them, and
    how their console tells them of new work. The console creates it on first use."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="agent_profile",
        verbose_name=_("user"),
    )
    # None: HANDOFF_AGENT_CAPACITY.
    capacity = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text=_("Most open conversations auto-assigned at once; empty: the site's default."),
        verbose_name=_("capacity"),
    )
    # Round robin: the online agent with room who was auto-assigned least recently goes next.
    last_assigned_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("last assigned at")
    )
    # Shown to visitors beside the agent's messages (initials without one); stored re-encoded
    # as a small PNG or JPEG by the admin's form, never as uploaded.
    avatar = models.ImageField(upload_to="avatars/", blank=True, verbose_name=_("avatar"))
    notify_sound = models.BooleanField(default=True, verbose_name=_("notify sound"))
    notify_desktop = models.BooleanField(
        default=False, verbose_name=_("notify desktop")
    )  # needs the browser's permission too
    notify_title = models.BooleanField(default=True, verbose_name=_("notify title"))

    class Meta:
        verbose_name = _("agent profile")
        verbose_name_plural = _("agent profiles")
        db_table = "chatbot_agentprofile"

    def __str__(self) -> str:
        return f"{self.user_id}"


class AssignmentEvent(models.Model):
    """Who gave a conversation to whom: the audit line agents see in its transcript (never the
    visitor). actor None is the system (auto-assignment, the claim timeout)."""

    class Kind(models.TextChoices):
        AGENT = "agent", _("To an agent")
        TEAM = "team", _("To a team")
        AUTO = "auto", _("Auto-assigned")
        EXPIRED = "expired", _("Claim timed out")
        OFFLINE = "offline", _("Owner went offline")

    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="assignment_events",
        verbose_name=_("conversation"),
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, verbose_name=_("kind"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    from_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("from agent"),
    )
    to_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("to agent"),
    )
    to_team = models.ForeignKey(
        Team, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("to team")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("assignment event")
        verbose_name_plural = _("assignment events")
        db_table = "chatbot_assignmentevent"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.kind}"
