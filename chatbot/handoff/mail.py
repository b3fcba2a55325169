"""The emails of left messages (docs/console.md, "Left messages"): the visitor's acknowledgement
and an agent's reply, in the conversation's language, and the team's notification, in the
site's; and the transcript a visitor asks for. Each `*_send` loads the row, sends once through
Django's email API and records it; chatbot.handoff.tasks runs them as Celery tasks, off the
socket, and retries them.

The acknowledgement does not quote what the visitor wrote: anyone can type any address into
the widget, so the only text we send to an unconfirmed address is our own. A transcript goes
to an address only once its owner asked for it through the link we emailed it (or it is the
verified visitor's own), and is capped per conversation and per address."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from markdown_it import MarkdownIt
from markdown_it.token import Token

from chatbot.handoff import notify
from chatbot.handoff.models import LeftMessage, TranscriptEmail
from chatbot.models import Message
from chatbot.services import visitor_facing_agent_name
from chatbot.visitor_copy import spaced_format

logger = logging.getLogger(__name__)

EXCERPT_CHARS = 500
TRANSCRIPT_LINK_SALT = "chatbot.transcript-link"
TRANSCRIPT_LINK_MAX_AGE_S = 24 * 3600
TRANSCRIPT_ROLES = (Message.Role.VISITOR, Message.Role.BOT, Message.Role.AGENT)


def _reply_to() -> list[str]:
    return [settings.EMAIL_TEAM_ADDRESS] if settings.EMAIL_TEAM_ADDRESS else []


def acknowledgement_email(left: LeftMessage) -> EmailMessage:
    with translation.override(left.conversation.locale):
        subject = _("We received your message")
        body = _(
            "Hello,\n\n"
            "Thank you for your message. Nobody from our team was available when you wrote; "
            "we have received it and will reply to this address as soon as we can. You do not "
            "need to send it again.\n\n"
            "This address was entered in the chat on our website. If that was not you, please "
            "ignore this email."
        )
    return EmailMessage(subject, body + "\n", to=[left.email], reply_to=_reply_to())


def team_email(left: LeftMessage) -> EmailMessage:
    """In the site's language (LANGUAGE_CODE), with a link to the conversation in the console.
    No Reply-To of the visitor: replies go through the console, so they land in the
    conversation and the inbox shows who answered."""
    link = settings.SITE_URL.rstrip("/") + reverse("console") + "#" + left.conversation.public_id
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("New message left by {email}").format(email=left.email)
        body = "\n\n".join(
            [
                _("{email} left a message in the chat while no agent was online:").format(
                    email=left.email
                ),
                _quoted(left.text),
                _("Conversation language: {locale}").format(locale=left.conversation.locale),
                _("Reply from the agent console's Left messages inbox: {link}").format(link=link),
            ]
        )
    return EmailMessage(subject, body + "\n", to=[settings.EMAIL_TEAM_ADDRESS])


def reply_email(left: LeftMessage, excerpt: list[Message]) -> EmailMessage:
    """The agent's reply, the message it answers, and the conversation before it."""
    assert left.reply is not None
    with translation.override(left.conversation.locale):
        subject = _("Our reply to your message")
        agent = visitor_facing_agent_name(left.answered_by)
        parts = [
            spaced_format(
                _("{agent} from our team replied to the message you left in our chat:"),
                agent=agent,
            )
            if agent
            else _("Our team replied to the message you left in our chat:"),
            plain_text(left.reply.text),
            _("Your message:"),
            _quoted(left.text),
        ]
        if excerpt:
            lines = [f"{_role(m)}: {_short(_written(m))}" for m in excerpt]
            parts += [_("The conversation so far:"), _quoted("\n".join(lines))]
    return EmailMessage(subject, "\n\n".join(parts) + "\n", to=[left.email], reply_to=_reply_to())


def transcript_email(request: TranscriptEmail, messages: list[Message]) -> EmailMessage:
    """The conversation as it was when the visitor asked, in its language."""
    with translation.override(request.conversation.locale):
        subject = _("Your chat transcript")
        intro = _(
            "Here is your conversation with us, as you asked in the chat on our website. If that "
            "was not you, please ignore this email."
        )
        lines = [
            f"{_role(m)} ({m.created_at:%Y-%m-%d %H:%M} UTC):\n{_written(m)}" for m in messages
        ]
    body = "\n\n".join([intro, *lines])
    return EmailMessage(subject, body + "\n", to=[request.email], reply_to=_reply_to())


def transcript_link(request: TranscriptEmail) -> str:
    """The page where the address's owner asks for the transcript (for a day)."""
    token = signing.dumps(request.pk, salt=TRANSCRIPT_LINK_SALT)
    return settings.SITE_URL.rstrip("/") + reverse("transcript-confirm", args=[token])


def transcript_link_request(token: str) -> TranscriptEmail | None:
    """The request a link names, while it is valid."""
    try:
        pk = signing.loads(token, salt=TRANSCRIPT_LINK_SALT, max_age=TRANSCRIPT_LINK_MAX_AGE_S)
    except signing.BadSignature:
        return None
    return TranscriptEmail.objects.select_related("conversation").filter(pk=pk).first()


def transcript_confirmation_email(request: TranscriptEmail) -> EmailMessage:
    """Only our own words and the link: nothing a visitor typed goes to an address they have
    not shown to be theirs."""
    with translation.override(request.conversation.locale):
        subject = _("Do you want your chat transcript?")
        body = _(
            "Hello,\n\n"
            "Someone asked in the chat on our website for a conversation to be emailed to this "
            "address. To receive it, open this link within 24 hours:\n\n{link}\n\n"
            "If that was not you, ignore this email: nothing more will be sent."
        ).format(link=transcript_link(request))
    return EmailMessage(subject, body + "\n", to=[request.email], reply_to=_reply_to())


_MARKDOWN = MarkdownIt("commonmark").enable(["strikethrough"])


def plain_text(markdown: str) -> str:
    """Bot and agent text (Markdown, as the widget and console show it) for a plain-text email:
    links as "text (address)", no emphasis marks, lists and paragraphs as lines. The raw
    markers reached the visitor ("**refund**", "[our refund policy](https://…)": a mail walk).
    markdown-it parses it as the help centre's import does; the text is ours to write out."""
    lines: list[str] = []
    lists: list[int | None] = []  # per open list: the last number, None for bullets
    marker = ""
    for token in _MARKDOWN.parse(markdown):
        if token.type in ("bullet_list_open", "ordered_list_open"):
            start = int(token.attrs.get("start", 1)) if token.type == "ordered_list_open" else 1
            lists.append(None if token.type == "bullet_list_open" else start - 1)
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            if not lists:
                lines.append("")
        elif token.type == "list_item_open":
            number = lists[-1]
            if number is not None:
                lists[-1] = number = number + 1
            marker = "  " * (len(lists) - 1) + ("- " if number is None else f"{number}. ")
        elif token.type == "inline":
            lines.append(marker + _inline_text(token.children or []))
            marker = ""
        elif token.type in ("fence", "code_block", "html_block"):
            lines.append(token.content.rstrip("\n"))
        elif token.type in ("paragraph_close", "heading_close") and not lists:
            lines.append("")
    return "\n".join(lines).strip()


def _inline_text(children: list[Token]) -> str:
    out: list[str] = []
    links: list[tuple[str, int]] = []
    for child in children:
        if child.type in ("text", "code_inline", "html_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif child.type == "image":
            out.append(child.content)
        elif child.type == "link_open":
            links.append((str(child.attrs.get("href", "")), len(out)))
        elif child.type == "link_close" and links:
            href, start = links.pop()
            if href and href != "".join(out[start:]):
                out.append(f" ({href})")
    return "".join(out)


def _written(message: Message) -> str:
    """A message's text as the email shows it: the visitor's as typed, ours without Markdown."""
    return message.text if message.role == Message.Role.VISITOR else plain_text(message.text)


def _role(message: Message) -> str:
    """Call inside translation.override."""
    return {
        Message.Role.VISITOR: _("You"),
        # The name the widget gives the bot (its "assistant"), not the console's "Bot".
        Message.Role.BOT: pgettext("the bot, as visitors read it", "Assistant"),
        Message.Role.AGENT: _("Our team"),
    }[message.role]


def _quoted(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines() or [""])


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _left(left_message_id: int) -> LeftMessage | None:
    return (
        LeftMessage.objects.select_related("conversation", "reply", "answered_by")
        .filter(pk=left_message_id)
        .first()
    )


def acknowledgement_send(*, left_message_id: int, now: datetime | None = None) -> bool:
    """Acknowledges a left message to the visitor once. False when it was already, or when its
    address had EMAIL_ACKS_PER_ADDRESS_PER_DAY acknowledgements in the last day. Raises what
    the email backend raises (the task decides whether to retry)."""
    left = _left(left_message_id)
    if left is None or left.acknowledged_at is not None:
        return False
    now = now or timezone.now()
    sent_today = LeftMessage.objects.filter(
        email__iexact=left.email, acknowledged_at__gte=now - timedelta(days=1)
    ).count()
    if sent_today >= settings.EMAIL_ACKS_PER_ADDRESS_PER_DAY:
        logger.warning("left message %s: no acknowledgement, its address had its day's", left.pk)
        return False
    acknowledgement_email(left).send()
    LeftMessage.objects.filter(pk=left.pk).update(acknowledged_at=timezone.now())
    notify.left_messages_changed()
    return True


def team_notification_send(*, left_message_id: int) -> bool:
    """Tells EMAIL_TEAM_ADDRESS about a left message; False when no address is set."""
    left = _left(left_message_id)
    if left is None or not settings.EMAIL_TEAM_ADDRESS:
        return False
    team_email(left).send()
    return True


def _last_messages(conversation_id: int, limit: int, **bound: object) -> list[Message]:
    """The conversation's last `limit` transcript messages within `bound`, oldest first."""
    newest_first = Message.objects.filter(
        conversation_id=conversation_id, role__in=TRANSCRIPT_ROLES, **bound
    ).order_by("-id")[:limit]
    return list(reversed(newest_first))


def reply_send(*, left_message_id: int) -> bool:
    """Emails an agent's answer to a left message once (False when it was already)."""
    left = _left(left_message_id)
    if left is None or left.reply is None or left.reply_emailed_at is not None:
        return False
    before = _last_messages(
        left.conversation_id, settings.EMAIL_REPLY_EXCERPT_MESSAGES, id__lt=left.reply_id
    )
    reply_email(left, before).send()
    LeftMessage.objects.filter(pk=left.pk).update(reply_emailed_at=timezone.now())
    notify.left_messages_changed()
    return True


def transcript_send(*, transcript_email_id: int) -> bool:
    """Emails the transcript a visitor asked for once (False when it was already)."""
    request = (
        TranscriptEmail.objects.select_related("conversation")
        .filter(pk=transcript_email_id)
        .first()
    )
    if request is None or request.sent_at is not None or request.confirmed_at is None:
        return False
    messages = _last_messages(
        request.conversation_id,
        settings.EMAIL_TRANSCRIPT_MAX_MESSAGES,
        created_at__lte=request.created_at,
    )
    transcript_email(request, messages).send()
    TranscriptEmail.objects.filter(pk=request.pk).update(sent_at=timezone.now())
    return True


def transcript_confirmation_send(*, transcript_email_id: int) -> bool:
    """Emails the link to ask for the transcript (False when it was asked for already)."""
    request = (
        TranscriptEmail.objects.select_related("conversation")
        .filter(pk=transcript_email_id, confirmed_at__isnull=True)
        .first()
    )
    if request is None:
        return False
    transcript_confirmation_email(request).send()
    return True


def left_message_undeliverable(error: str, *, left_message_id: int) -> None:
    """An email to the visitor's address was given up (chatbot.handoff.tasks): the inbox says
    so, and the daily resend leaves it alone."""
    LeftMessage.objects.filter(pk=left_message_id).update(
        undeliverable_at=timezone.now(), undeliverable_error=error[:200]
    )
    notify.left_messages_changed()


def unsent(*, since: datetime, until: datetime) -> dict[str, list[int]]:
    """Rows whose email should have gone out in that window and did not: what a process that
    died with sends pending lost (the team's notifications are not recorded, so not here)."""
    window = {"created_at__gte": since, "created_at__lte": until}
    return {
        "acknowledgements": list(
            LeftMessage.objects.filter(
                acknowledged_at__isnull=True, undeliverable_at__isnull=True, **window
            ).values_list("pk", flat=True)
        ),
        "replies": list(
            LeftMessage.objects.filter(
                answered_at__gte=since,
                answered_at__lte=until,
                reply__isnull=False,
                reply_emailed_at__isnull=True,
                undeliverable_at__isnull=True,
            ).values_list("pk", flat=True)
        ),
        "transcripts": list(
            TranscriptEmail.objects.filter(
                sent_at__isnull=True, confirmed_at__isnull=False, **window
            ).values_list("pk", flat=True)
        ),
    }
