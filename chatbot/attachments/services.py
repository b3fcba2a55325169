"""Stores an uploaded file as a message of the conversation and tells its sockets, for a
visitor or for the agent who owns the conversation. The bot never answers an attachment."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from chatbot.attachments import files
from chatbot.handoff import notify
from chatbot.handoff import services as handoff
from chatbot.models import Attachment, Conversation, Message
from chatbot.services import message_payload


class AttachmentError(Exception):
    """Why a file was refused: `too_large`, `type_not_allowed`, `unreadable`, `infected`."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code, self.detail = code, detail


@dataclass(frozen=True)
class Checked:
    data: bytes
    name: str
    content_type: str
    thumbnail: files.Thumbnail | None


def attachment_check(*, data: bytes, name: str) -> Checked:
    """The file as it will be stored, or AttachmentError: size, type by content, the scanner
    (CHAT_ATTACHMENT_SCANNER) and, for images, that Pillow reads them (their thumbnail)."""
    if len(data) > settings.CHAT_ATTACHMENT_MAX_BYTES:
        raise AttachmentError("too_large")
    content_type = files.sniff(data)
    if content_type is None:
        raise AttachmentError("type_not_allowed")
    clean = files.clean_name(name, content_type)
    if settings.CHAT_ATTACHMENT_SCANNER:
        scanner: files.Scanner = import_string(settings.CHAT_ATTACHMENT_SCANNER)
        reason = scanner(data, name=clean, content_type=content_type)
        if reason:
            raise AttachmentError("infected", reason)
    thumbnail = None
    if content_type in Attachment.IMAGE_TYPES:
        thumbnail = files.image_thumbnail(data)
        if thumbnail is None:
            raise AttachmentError("unreadable")
    return Checked(data, clean, content_type, thumbnail)


def _attachment_create(checked: Checked) -> Attachment:
    attachment = Attachment(
        name=checked.name, size=len(checked.data), content_type=checked.content_type
    )
    extension = files.ALLOWED_TYPES[checked.content_type]
    attachment.file.save(extension, ContentFile(checked.data), save=False)
    if checked.thumbnail is not None:
        attachment.thumbnail.save(
            checked.thumbnail.extension, ContentFile(checked.thumbnail.data), save=False
        )
    attachment.save()
    return attachment


def _attachment_discard(attachment: Attachment) -> None:
    attachment.file.delete(save=False)
    if attachment.thumbnail:
        attachment.thumbnail.delete(save=False)
    attachment.delete()


def _tell(conversation: Conversation, message: Message) -> None:
    public_id = conversation.public_id
    frame = {"type": "message", "message": message_payload(message)}
    transaction.on_commit(lambda: notify.to_visitor(public_id, frame))


def visitor_attachment_store(
    *, conversation: Conversation, client_id: str, checked: Checked
) -> tuple[Message, bool]:
    """Stores the visitor's file once per client id (a resend returns the stored message) and
    routes it like a message (timestamps, the console's timers, reopening a closed
    conversation) without the bot answering. Returns (message, created)."""
    existing = Message.objects.filter(conversation=conversation, client_id=client_id).first()
    if existing is not None:
        return existing, False
    attachment = _attachment_create(checked)
    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation,
                role=Message.Role.VISITOR,
                client_id=client_id,
                text=checked.name,
                attachment=attachment,
            )
            handoff.visitor_message_route(
                conversation_id=conversation.pk, text="", preview="📎 " + checked.name
            )
            _tell(conversation, message)
    except IntegrityError:  # another request with this client id won
        _attachment_discard(attachment)
        return Message.objects.get(conversation=conversation, client_id=client_id), False
    return message, True


def agent_attachment_store(
    *, public_id: str, agent: AbstractBaseUser, client_id: str, checked: Checked
) -> tuple[Message, bool]:
    """Stores a file from the conversation's owner (HandoffError otherwise) as their message."""
    attachment = _attachment_create(checked)
    try:
        message, created = handoff.agent_message_send(
            public_id=public_id,
            agent=agent,
            client_id=client_id,
            text=checked.name,
            attachment=attachment,
        )
    except Exception:
        _attachment_discard(attachment)
        raise
    if not created:
        _attachment_discard(attachment)
    return message, created
