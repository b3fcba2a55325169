"""Conversations and their messages."""

import secrets

from django.db import models
from django.db.models import Q


def new_public_id() -> str:
    return secrets.token_urlsafe(16)


def new_visitor_token() -> str:
    return secrets.token_urlsafe(24)


class Conversation(models.Model):
    class Status(models.TextChoices):
        BOT = "bot", "Bot"
        QUEUED = "queued", "Queued for an agent"
        AGENT = "agent", "With an agent"
        CLOSED = "closed", "Closed"

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    visitor_token = models.CharField(max_length=64, default=new_visitor_token, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.BOT)
    locale = models.CharField(max_length=16, default="en")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.public_id


class Message(models.Model):
    class Role(models.TextChoices):
        VISITOR = "visitor", "Visitor"
        BOT = "bot", "Bot"
        AGENT = "agent", "Agent"
        SYSTEM = "system", "System"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    text = models.TextField()
    # Set by the client for visitor messages; makes a resend idempotent.
    client_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - NULL is "no id"
    # For bot answers: the visitor message they answer.
    reply_to = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reply"
    )
    # faq / cache / llm / fallback for bot messages; empty otherwise.
    source = models.CharField(max_length=16, blank=True, default="")
    trace = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=Q(client_id__isnull=False),
                name="unique_client_id_per_conversation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:40]}"


class Feedback(models.Model):
    class Value(models.TextChoices):
        UP = "up", "Helpful"
        DOWN = "down", "Not helpful"

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="feedback")
    value = models.CharField(max_length=8, choices=Value.choices)
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.value} on {self.message_id}"
