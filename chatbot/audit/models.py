"""The audit log of what agents and admins did to conversations and visitors' data (Django's
admin LogEntry keeps the admin's own add/change/delete). docs/security.md, "Privacy".

It was the privacy app's until the audit log became an app of its own, so that the apps that
write to it (handoff, inbox, privacy) import no feature back: the table keeps its name
(`Meta.db_table`, "privacy_auditevent") and the migration that moved it runs no SQL."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        CLAIM = "claim", _("Claimed a conversation")
        TRANSFER = "transfer", _("Transferred a conversation")
        RETURN_TO_BOT = "return_to_bot", _("Handed a conversation back to the bot")
        CLOSE = "close", _("Closed a conversation")
        EXPORT = "export", _("Exported conversations")
        VISITOR_EXPORT = "visitor_export", _("Exported a visitor's data")
        VISITOR_ERASE = "visitor_erase", _("Erased a visitor's data")
        RETENTION = "retention", _("Applied the retention period")

    created_at = models.DateTimeField(
        auto_now_add=True, db_index=True, verbose_name=_("created at")
    )
    action = models.CharField(max_length=32, choices=Action.choices, verbose_name=_("action"))
    # Who did it; None for the system (the retention task). The name is kept as it was, so the
    # line still says who after the user is deleted.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_name = models.CharField(
        max_length=150, blank=True, default="", verbose_name=_("actor name")
    )
    # The conversation's public id, not a key: the line outlives an erased conversation.
    conversation = models.CharField(
        max_length=32, blank=True, default="", db_index=True, verbose_name=_("conversation")
    )
    # What else the action needs to be understood (a date range, a count, whom to), never
    # the visitor's words or contact details.
    detail = models.JSONField(default=dict, blank=True, verbose_name=_("detail"))

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        db_table = "privacy_auditevent"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name or 'system'} {self.action}"
