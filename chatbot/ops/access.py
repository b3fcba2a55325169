"""Who sees the operation's figures (model costs, breakers, the queue, /metrics): the leads who
may read conversations, as for the analytics dashboard. Agents are staff too, for the console,
but hold no model permissions; a staff session alone once opened these pages."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

LEAD_PERMISSION = "chatbot.view_conversation"


async def may_see_operations(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user.is_active and user.is_staff and await user.ahas_perm(LEAD_PERMISSION))
