"""Ends console sockets that lost their right: on signing out (the session's own sockets) and
on any change to an agent's account or groups (each socket checks its session again,
chatbot.consumers.agent). A socket also checks before every frame it receives; these signals
close one that is only listening (visitors' messages reach it without a frame from it)."""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import m2m_changed, post_save
from django.dispatch import receiver

from chatbot.realtime import agent_group


def _tell_sockets(user_id: int, session_key: str | None) -> None:
    async_to_sync(get_channel_layer().group_send)(
        agent_group(user_id), {"type": "console.access", "session_key": session_key}
    )


@receiver(user_logged_out, dispatch_uid="console-access-signed-out")
def signed_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None and getattr(request, "session", None) is not None:
        _tell_sockets(user.pk, request.session.session_key)


@receiver(post_save, sender=get_user_model(), dispatch_uid="console-access-account")
def account_changed(
    sender: Any, instance: Any, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return  # a new account has no socket; signing in changes no right
    transaction.on_commit(lambda: _tell_sockets(instance.pk, None))


@receiver(m2m_changed, sender=get_user_model().groups.through, dispatch_uid="console-access-groups")
def groups_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **kwargs: Any
) -> None:
    """A user taken out of groups (from either side); a group emptied from its own side does
    not say whose it was: each socket then checks on its next frame (a ping every 15 s)."""
    if action not in ("post_remove", "post_clear"):
        return
    users = sorted(pk_set or ()) if reverse else [instance.pk]
    transaction.on_commit(lambda: [_tell_sockets(user_id, None) for user_id in users])
