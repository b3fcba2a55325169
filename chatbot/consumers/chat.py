"""The visitor's chat socket: parse and validate, persist, start the answer, relay events."""

import json
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chatbot import answering, copy, services
from chatbot.models import Conversation
from chatbot.protocol import (
    PROTOCOL_VERSION,
    FeedbackFrame,
    MessageFrame,
    ProtocolError,
    ResumeFrame,
    error_frame,
    parse_client_frame,
)
from chatbot.shared_state import shared_state

FORBIDDEN_CLOSE_CODE = 4403


class ChatConsumer(AsyncWebsocketConsumer):
    conversation: Conversation | None = None

    async def connect(self) -> None:
        query = {k: v[0] for k, v in parse_qs(self.scope.get("query_string", b"").decode()).items()}
        self.locale = copy.normalise_locale(query.get("locale"))
        await self.accept()
        if query.get("conversation"):
            self.conversation = await database_sync_to_async(services.conversation_open)(
                public_id=query["conversation"], token=query.get("token", "")
            )
            if self.conversation is None:
                await self.send_frame(error_frame("forbidden", locale=self.locale))
                await self.close(code=FORBIDDEN_CLOSE_CODE)
                return
            await database_sync_to_async(services.conversation_set_locale)(
                conversation=self.conversation, locale=self.locale
            )
        else:
            self.conversation = await database_sync_to_async(services.conversation_start)(
                locale=self.locale
            )
        self.group = answering.group_name(self.conversation.public_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        last_id = await database_sync_to_async(services.last_message_id)(
            conversation=self.conversation
        )
        await self.send_frame(
            {
                "type": "hello",
                "v": PROTOCOL_VERSION,
                "conversation": self.conversation.public_id,
                "token": self.conversation.visitor_token,
                "locale": self.locale,
                "status": self.conversation.status,
                "last_id": last_id,
            }
        )

    async def disconnect(self, code: int) -> None:
        if self.conversation is not None and hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.conversation is None:
            return
        if text_data is None:
            await self.send_frame(error_frame("binary_not_supported", locale=self.locale))
            return
        try:
            frame = parse_client_frame(
                text_data,
                max_bytes=settings.CHAT_MAX_FRAME_BYTES,
                max_chars=settings.CHAT_MAX_MESSAGE_CHARS,
            )
        except ProtocolError as err:
            await self.send_frame(
                error_frame(err.code, locale=self.locale, client_id=err.client_id)
            )
            return
        if isinstance(frame, MessageFrame):
            await self.on_message(frame)
        elif isinstance(frame, ResumeFrame):
            await self.on_resume(frame)
        elif isinstance(frame, FeedbackFrame):
            await self.on_feedback(frame)

    async def on_message(self, frame: MessageFrame) -> None:
        message, created = await database_sync_to_async(services.visitor_message_store)(
            conversation=self.conversation, client_id=frame.client_id, text=frame.text
        )
        await self.send_frame(
            {
                "type": "ack",
                "client_id": frame.client_id,
                "message_id": message.id,
                "duplicate": not created,
            }
        )
        if created:
            await self.channel_layer.group_send(
                self.group,
                {
                    "type": "chat.frame",
                    "frame": {"type": "message", "message": services.message_payload(message)},
                    "exclude": self.channel_name,
                },
            )
        # A resend of a message that was never answered (the server went down) is answered now;
        # the answering claim makes sure it is answered once.
        if created or not await database_sync_to_async(services.message_has_reply)(
            message_id=message.id
        ):
            answering.start_answer(message.id, self.conversation.public_id, self.locale)

    async def on_resume(self, frame: ResumeFrame) -> None:
        messages = await database_sync_to_async(services.messages_after)(
            conversation=self.conversation, after=frame.after
        )
        for message in messages:
            await self.send_frame({"type": "message", "message": services.message_payload(message)})
        last_id = messages[-1].id if messages else frame.after
        await self.send_frame({"type": "resumed", "last_id": last_id})
        pending = await database_sync_to_async(services.unanswered_visitor_message_ids)(
            conversation=self.conversation
        )
        for message_id in pending:
            partial = await shared_state().read(answering.partial_key(message_id))
            if partial:
                await self.send_frame(
                    {"type": "token", "reply_to": message_id, "offset": 0, "text": partial}
                )

    async def on_feedback(self, frame: FeedbackFrame) -> None:
        feedback = await database_sync_to_async(services.feedback_record)(
            conversation=self.conversation,
            message_id=frame.message_id,
            value=frame.value,
            comment=frame.comment,
        )
        if feedback is None:
            await self.send_frame(error_frame("not_found", locale=self.locale))

    async def chat_frame(self, event: dict[str, Any]) -> None:
        """A frame published to this conversation's group (answer events, others' messages)."""
        if event.get("exclude") == self.channel_name:
            return
        await self.send_frame(event["frame"])

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, ensure_ascii=False))
