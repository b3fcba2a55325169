"""The handoff's models: agents' notes, left messages, transcript requests, opening hours and
away messages, agents' presence and profiles, teams and the assignment audit trail.

They were chatbot's until the handoff became an app of its own (issue 17): each keeps its table
(`Meta.db_table`, "chatbot_..."), and the migrations that moved them run no SQL
(chatbot/handoff/migrations/0001_initial.py)."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from chatbot.models import Conversation, Message


class AgentNote(models.Model):
    """A private note on a conversation: agents see it, the visitor never does."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "chatbot_agentnote"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.text[:40]


class LeftMessage(models.Model):
    """What a visitor left for the team when no agent was online."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="left_messages"
    )
    email = models.EmailField()
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    # The acknowledgement email went out (chatbot.handoff.mail).
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    # An agent answered it from the console's inbox: their reply is an agent message of the
    # conversation, and was emailed to the visitor at reply_emailed_at.
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reply = models.OneToOneField(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="left_message"
    )
    reply_emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "chatbot_leftmessage"
        ordering = ["id"]
        indexes = [models.Index(fields=["answered_at", "id"], name="left_message_inbox_idx")]

    def __str__(self) -> str:
        return f"{self.email}: {self.text[:40]}"


class TranscriptEmail(models.Model):
    """A visitor asked for the conversation's transcript by email (chatbot.handoff.mail)."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="transcript_emails"
    )
    email = models.EmailField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
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

    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        db_table = "chatbot_openinghours"
        ordering = ["weekday", "opens"]
        verbose_name_plural = "opening hours"
        constraints = [
            models.CheckConstraint(condition=Q(closes__gt=F("opens")), name="opening_hours_order")
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"


class AwayMessage(models.Model):
    """What visitors asking for a person read outside opening hours, per locale."""

    locale = models.CharField(max_length=16, choices=settings.LANGUAGES, unique=True)
    text = models.TextField(max_length=1000)

    class Meta:
        db_table = "chatbot_awaymessage"

    def __str__(self) -> str:
        return f"{self.locale}: {self.text[:40]}"


class AgentPresence(models.Model):
    """An agent's availability. Online means status online and a console heartbeat recently."""

    class Status(models.TextChoices):
        ONLINE = "online", "Online"
        AWAY = "away", "Away"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_presence"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ONLINE)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "chatbot_agentpresence"

    def __str__(self) -> str:
        return f"{self.user_id}: {self.status}"


class Team(models.Model):
    """An inbox of agents (billing, returns): a conversation given to a team waits in the queue
    for its members, and auto-assignment picks among them (docs/console.md, "Assignment")."""

    name = models.CharField(max_length=80, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "chatbot_team"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AgentProfile(models.Model):
    """An agent's own settings: how many open conversations auto-assignment may give them, and
    how their console tells them of new work. The console creates it on first use."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile"
    )
    # None: HANDOFF_AGENT_CAPACITY.
    capacity = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Most open conversations auto-assigned at once; empty: the site's default.",
    )
    # Round robin: the online agent with room who was auto-assigned least recently goes next.
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    # Shown to visitors beside the agent's messages (initials without one); stored re-encoded
    # as a small PNG or JPEG by the admin's form, never as uploaded.
    avatar = models.ImageField(upload_to="avatars/", blank=True)
    notify_sound = models.BooleanField(default=True)
    notify_desktop = models.BooleanField(default=False)  # needs the browser's permission too
    notify_title = models.BooleanField(default=True)

    class Meta:
        db_table = "chatbot_agentprofile"

    def __str__(self) -> str:
        return f"{self.user_id}"


class AssignmentEvent(models.Model):
    """Who gave a conversation to whom: the audit line agents see in its transcript (never the
    visitor). actor None is the system (auto-assignment, the claim timeout)."""

    class Kind(models.TextChoices):
        AGENT = "agent", "To an agent"
        TEAM = "team", "To a team"
        AUTO = "auto", "Auto-assigned"
        EXPIRED = "expired", "Claim timed out"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="assignment_events"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_team = models.ForeignKey(Team, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "chatbot_assignmentevent"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.kind}"
