"""Writing the audit log (chatbot.audit.models.AuditEvent). Call inside the transaction of the
action it records, so a rolled-back action leaves no line."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from chatbot.audit.models import AuditEvent

Action = AuditEvent.Action


def audit_record(
    *,
    action: AuditEvent.Action,
    actor: AbstractBaseUser | None = None,
    conversation: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        action=action,
        actor=actor if actor is not None and actor.pk else None,
        actor_name=actor.get_username() if actor is not None else "",
        conversation=conversation,
        detail=detail or {},
    )
