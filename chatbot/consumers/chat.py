"""The visitor's chat socket: parse and validate, persist, start the answer, relay events."""

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings

from chatbot import answering, copy, metrics, services
from chatbot.consumers.base import JsonSocketConsumer
from chatbot.handoff import background, notify, selectors
from chatbot.handoff import services as handoff
from chatbot.handoff.protocol import (
    HANDOFF_ERROR_TEXTS,
    HandoffRequestFrame,
    LeaveMessageFrame,
    RatingFrame,
    TranscriptEmailFrame,
    VisitorTypingFrame,
    parse_visitor_frame,
    visitor_error_frame,
)
from chatbot.models import Conversation
from chatbot.observability.logs import set_conversation
from chatbot.protocol import (
    PROTOCOL_VERSION,
    FeedbackFrame,
    MessageFrame,
    ProtocolError,
    ResumeFrame,
    error_frame,
)
from chatbot.ratelimit import visitor_message_allowed
from chatbot.shared_state import shared_state

FORBIDDEN_CLOSE_CODE = 4403
# Frames telling the visitor who holds the conversation now (queued, an agent, closed, back to
# the bot): an answer this process is writing must look again before it goes on.
HOLD_FRAMES = frozenset({"handoff", "conversation"})


class ChatConsumer(JsonSocketConsumer):
    conversation: Conversation | None = None

    async def connect(self) -> None:
        query = {k: v[0] for k, v in parse_qs(self.scope.get("query_string", b"").decode()).items()}
        self.locale = copy.normalise_locale(query.get("locale"))
        await self.accept()
        metrics.WEBSOCKETS.labels("visitor").inc()
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
        set_conversation(self.conversation.public_id)
        self.group = answering.group_name(self.conversation.public_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        # Read after joining the group, so nothing published meanwhile falls between the two.
        # A conversation started just now has no messages and no place in the queue: two
        # database calls fewer per new visitor.
        returning = bool(query.get("conversation"))
        last_id = (
            await database_sync_to_async(services.last_message_id)(conversation=self.conversation)
            if returning
            else 0
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
        background.sweeper_acquire()
        if returning:
            await self.send_queue_place()

    async def disconnect(self, code: int) -> None:
        metrics.WEBSOCKETS.labels("visitor").dec()
        if self.conversation is not None and hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await background.sweeper_release()

    def internal_error_frame(self) -> dict[str, Any]:
        return error_frame("internal", locale=self.locale)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.conversation is None:
            return
        if text_data is None:
            await self.send_frame(error_frame("binary_not_supported", locale=self.locale))
            return
        try:
            frame = parse_visitor_frame(
                text_data,
                max_bytes=settings.CHAT_MAX_FRAME_BYTES,
                max_chars=settings.CHAT_MAX_MESSAGE_CHARS,
            )
        except ProtocolError as err:
            if err.code in HANDOFF_ERROR_TEXTS:
                await self.send_frame(visitor_error_frame(err.code, locale=self.locale))
            else:
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
        elif isinstance(frame, HandoffRequestFrame):
            await self.on_handoff()
        elif isinstance(frame, VisitorTypingFrame):
            await self.on_typing(frame)
        elif isinstance(frame, LeaveMessageFrame):
            await self.on_leave_message(frame)
        elif isinstance(frame, RatingFrame):
            await self.on_rating(frame)
        elif isinstance(frame, TranscriptEmailFrame):
            await self.on_transcript_email(frame)

    async def _rate_limited(self, client_id: str | None = None) -> bool:
        """Takes from the visitor's budget for stored text (messages and left messages); when it
        is spent, sends `rate_limited` with the wait and says so. Nothing is stored then: the
        widget keeps the text and lets the visitor resend it once retry_after has passed."""
        allowed, retry_after = await visitor_message_allowed(self.conversation.public_id)
        if not allowed:
            await self.send_frame(
                error_frame(
                    "rate_limited",
                    locale=self.locale,
                    client_id=client_id,
                    retry_after=round(retry_after, 1),
                )
            )
        return not allowed

    async def on_message(self, frame: MessageFrame) -> None:
        if await self._rate_limited(frame.client_id):
            return
        accepted = await database_sync_to_async(handoff.visitor_message_accept)(
            conversation=self.conversation, client_id=frame.client_id, text=frame.text
        )
        message = accepted.message
        await self.send_frame(
            {
                "type": "ack",
                "client_id": frame.client_id,
                "message_id": message.id,
                "duplicate": not accepted.created,
            }
        )
        if accepted.created:
            await self.channel_layer.group_send(
                self.group,
                {
                    "type": "chat.frame",
                    "frame": {"type": "message", "message": services.message_payload(message)},
                    "exclude": self.channel_name,
                },
            )
        # Asking for a person in words queues the conversation, and while it is queued or with
        # an agent the bot stays silent (answering checks again before it speaks). A resend of
        # a message never answered (the server went down) is answered now; the answering claim
        # makes sure it is answered once.
        if accepted.answer:
            answering.start_answer(
                message.id, self.conversation.public_id, self.locale, turn=accepted.turn
            )

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
        elif frame.value == "down" and settings.HANDOFF_ON_NEGATIVE_FEEDBACK:
            background.schedule_feedback_handoff(self.conversation.pk, frame.message_id)

    async def on_handoff(self) -> None:
        """The visitor asked for a person. Already queued: they get their place again."""
        queued = await database_sync_to_async(handoff.conversation_handoff)(
            conversation_id=self.conversation.pk, reason=handoff.Reason.VISITOR_REQUEST
        )
        if not queued and not await self.send_queue_place():
            status = await database_sync_to_async(selectors.conversation_status)(
                conversation_id=self.conversation.pk
            )
            await self.send_frame({"type": "conversation", "status": status})

    async def on_typing(self, frame: VisitorTypingFrame) -> None:
        public_id = self.conversation.public_id
        await self.channel_layer.group_send(
            notify.console_group(public_id),
            {
                "type": "console.frame",
                "frame": {
                    "type": "typing",
                    "conversation": public_id,
                    "role": "visitor",
                    "active": frame.active,
                },
            },
        )

    async def on_leave_message(self, frame: LeaveMessageFrame) -> None:
        if await self._rate_limited():
            return
        stored = await database_sync_to_async(handoff.left_message_store)(
            conversation_id=self.conversation.pk, email=frame.email, text=frame.text
        )
        if stored is None:
            await self.send_frame(visitor_error_frame("left_message_limit", locale=self.locale))
            return
        await self.send_frame({"type": "left_message", "email": frame.email})

    async def on_transcript_email(self, frame: TranscriptEmailFrame) -> None:
        if await self._rate_limited():
            return
        requested = await database_sync_to_async(handoff.transcript_email_request)(
            conversation_id=self.conversation.pk, email=frame.email
        )
        if requested is None:
            await self.send_frame(visitor_error_frame("transcript_limit", locale=self.locale))
            return
        await self.send_frame({"type": "transcript_email", "email": frame.email})

    async def on_rating(self, frame: RatingFrame) -> None:
        if await database_sync_to_async(handoff.rating_record)(
            conversation_id=self.conversation.pk, score=frame.score, comment=frame.comment
        ):
            await self.send_frame({"type": "rated", "score": frame.score})
        else:
            await self.send_frame(visitor_error_frame("not_closed", locale=self.locale))

    async def send_queue_place(self) -> bool:
        """Sends the visitor's place in the queue; False when the conversation is not queued."""
        frame = await database_sync_to_async(selectors.handoff_frame)(
            conversation_id=self.conversation.pk
        )
        if frame is not None:
            await self.send_frame(frame)
        return frame is not None

    async def chat_frame(self, event: dict[str, Any]) -> None:
        """A frame published to this conversation's group (answer events, others' messages)."""
        if event.get("exclude") == self.channel_name:
            return
        frame = event["frame"]
        if frame["type"] in HOLD_FRAMES:
            answering.hold_may_have_changed(self.conversation.public_id)
        await self.send_frame(frame)
