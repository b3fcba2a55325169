"""The visitor's chat socket: parse and validate, persist, start the answer, relay events."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import InterfaceError, OperationalError

from chatbot import answering, metrics, realtime, recovery, services, tasks, visitor_copy
from chatbot.consumers.base import JsonSocketConsumer
from chatbot.handoff import background, hours, selectors
from chatbot.handoff import services as handoff
from chatbot.handoff.protocol import (
    HandoffCancelFrame,
    HandoffRequestFrame,
    LeaveMessageFrame,
    RatingFrame,
    TeamFrame,
    TranscriptEmailFrame,
    VisitorContextFrame,
    VisitorReadFrame,
    VisitorTypingFrame,
    parse_visitor_frame,
)
from chatbot.inbox import visitor
from chatbot.llm.limits import Bucket, take_in_memory
from chatbot.models import Conversation
from chatbot.observability.logs import set_conversation
from chatbot.protocol import (
    PROTOCOL_VERSION,
    FeedbackFrame,
    MessageFrame,
    PingFrame,
    ProtocolError,
    ResumeFrame,
    RetryFrame,
    error_frame,
)
from chatbot.security.ratelimit import (
    ClientAction,
    client_allowed,
    client_ip,
    visitor_message_allowed,
)
from chatbot.shared_state import shared_state

logger = logging.getLogger(__name__)

FORBIDDEN_CLOSE_CODE = 4403
# A database restarting refuses connections for a second or two ("the database system is
# starting up"): one more try after this long before the visitor is asked to send it again.
STORE_RETRY_DELAY_S = 1.0
# The database out of reach (restarting, a dropped connection), not a bug in the write.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RATE_LIMITED_CLOSE_CODE = 4429
# Frames telling the visitor who holds the conversation now (queued, an agent, closed, back to
# the bot): an answer this process is writing must look again before it goes on.
HOLD_FRAMES = frozenset({"handoff", "conversation"})
# The frames without a budget of their own (messages, handoffs and connects have theirs), per
# socket: a security walk had 2,000 `typing` frames relayed to every agent viewing in 0.02 s,
# and 1,000 `feedback` comments stored in 1.7 s. A widget sends a few a minute.
CHATTER = Bucket("socket-chatter", capacity=30, refill_per_s=1.0)
# Over it `typing` and `read` are dropped unsaid (nothing was asked of the server), a site's
# `context` is kept in memory and written with the next message (a page calling setAttributes
# in a loop had the visitor read "You are sending messages quickly" six times, and the latest
# attributes were the ones lost), the others get `rate_limited`. Not counted: the frames with
# budgets of their own, and `resume` and `ping`, which a socket cannot do without.
UNCOUNTED = (MessageFrame, RetryFrame, HandoffRequestFrame, ResumeFrame, PingFrame)
QUIET_CHATTER = (VisitorTypingFrame, VisitorReadFrame)


class ChatConsumer(JsonSocketConsumer):
    # The stored conversation; None until the visitor sends something worth storing (a new
    # visitor's `hello` names the id and token the row will get: docs/security.md).
    conversation: Conversation | None = None
    opened = False  # the hello went out: frames are taken
    # The queue place this socket last told the visitor: a queue-wide broadcast repeating it
    # (the visitor's own handoff already said it) is not sent twice.
    queue_place_sent: dict[str, Any] | None = None
    # The status this socket last told the visitor (hello, `conversation`, `handoff` frames):
    # with people in the conversation (queued or with an agent) messages are chat, not model
    # calls, and a looser limit applies to them.
    status_told: str = Conversation.Status.BOT.value

    async def send_frame(self, frame: dict[str, Any]) -> None:
        if frame.get("type") in ("hello", "conversation", "handoff") and "status" in frame:
            self.status_told = str(frame["status"])
        await super().send_frame(frame)

    async def connect(self) -> None:
        self.chatter: dict[str, tuple[float, float]] = {}  # CHATTER's level on this socket
        # The site's attributes not written to the conversation yet: (attributes, page).
        self.attributes_unsaved: tuple[dict[str, Any], str] | None = None
        query = {k: v[0] for k, v in parse_qs(self.scope.get("query_string", b"").decode()).items()}
        self.locale = visitor_copy.normalise_locale(query.get("locale"))
        self.client = client_ip(self.scope)
        self.context = visitor.context_from_query(
            query, user_agent=self._user_agent(), identity_secret=settings.CHAT_IDENTITY_SECRET
        )
        identity = self.context.identity
        await self.accept()
        metrics.WEBSOCKETS.labels("visitor").inc()
        allowed, retry_after = await client_allowed(self.client, ClientAction.CONNECT)
        if not allowed:
            await self.send_limited("too_many_requests", ClientAction.CONNECT, retry_after)
            await self.close(code=RATE_LIMITED_CLOSE_CODE)
            return
        public_id, token = query.get("conversation", ""), query.get("token", "")
        if public_id:
            # A verified visitor's own conversation opens without its token (another device);
            # one of a verified user never opens for anybody else, token or not.
            self.conversation, exists = await database_sync_to_async(visitor.conversation_open_as)(
                public_id=public_id, token=token, identity=identity
            )
            if self.conversation is None and (
                exists or not services.pending_token_valid(public_id=public_id, token=token)
            ):
                await self.send_frame(error_frame("forbidden", locale=self.locale))
                await self.close(code=FORBIDDEN_CLOSE_CODE)
                return
        elif identity is not None:
            # A logged-in visitor on a new device picks up where they were.
            self.conversation = await database_sync_to_async(visitor.identified_latest)(
                user_id=identity.user_id
            )
        if self.conversation is not None:
            public_id, token = self.conversation.public_id, self.conversation.visitor_token
        elif not public_id:
            # No row until the visitor writes: 2,000 sockets that never spoke made 2,000 rows.
            public_id, token = services.pending_conversation_new()
        self.public_id, self.token = public_id, token
        status = Conversation.Status.BOT.value
        if self.conversation is not None:
            await database_sync_to_async(services.conversation_set_locale)(
                conversation=self.conversation, locale=self.locale
            )
            await self.save_context()
            status = self.conversation.status
        set_conversation(self.public_id)
        self.group = realtime.conversation_group(self.public_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        # Read after joining the group, so nothing published meanwhile falls between the two.
        # A new visitor has no messages and no place in the queue: no database call at all.
        last_id = (
            await database_sync_to_async(services.last_message_id)(conversation=self.conversation)
            if self.conversation is not None
            else 0
        )
        hello = {
            "type": "hello",
            "v": PROTOCOL_VERSION,
            "conversation": self.public_id,
            "token": token,
            "locale": self.locale,
            "status": status,
            "last_id": last_id,
            "team": await self.team_status(),
            "identified": identity is not None,
        }
        if status == Conversation.Status.AGENT:
            hello["agent"] = await database_sync_to_async(selectors.assigned_agent_name)(
                conversation_id=self.conversation.pk
            )
        if self.conversation is not None:
            hello.update(
                await database_sync_to_async(selectors.visitor_past)(
                    conversation_id=self.conversation.pk, public_id=self.public_id
                )
            )
        if identity is not None:
            hello["conversations"] = await database_sync_to_async(visitor.identified_conversations)(
                user_id=identity.user_id
            )
        await self.send_frame(hello)
        self.opened = True
        background.sweeper_acquire()
        recovery.sweeper_acquire()
        tasks.kick_after_start()  # questions queued before this process started
        if self.conversation is not None:
            background.visitor_present(self.conversation.pk)
            await self.send_queue_place()

    async def disconnect(self, code: int) -> None:
        metrics.WEBSOCKETS.labels("visitor").dec()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.opened:
            if self.conversation is not None:
                background.visitor_absent(self.conversation.pk)
            await background.sweeper_release()
            await recovery.sweeper_release()

    def _user_agent(self) -> str:
        for name, value in self.scope.get("headers", ()):
            if name == b"user-agent":
                return value.decode("latin-1")
        return ""

    async def save_context(self) -> None:
        """The visitor context this socket brought, onto the stored conversation."""
        await database_sync_to_async(visitor.visitor_context_save)(
            conversation_id=self.conversation.pk, context=self.context
        )

    async def send_limited(
        self,
        code: str,
        action: ClientAction,
        retry_after: float,
        client_id: str | None = None,
    ) -> None:
        metrics.VISITOR_LIMITED.labels(action.value).inc()
        await self.send_frame(
            error_frame(code, locale=self.locale, client_id=client_id, retry_after=retry_after)
        )

    async def stored(self) -> bool:
        """Whether the conversation has a row, looking again when this socket has not stored
        it: another tab of the visitor may have written first."""
        if self.conversation is None:
            self.conversation, _ = await database_sync_to_async(visitor.conversation_open_as)(
                public_id=self.public_id, token=self.token, identity=self.context.identity
            )
            if self.conversation is not None:
                background.visitor_present(self.conversation.pk)
        return self.conversation is not None

    async def started(self, client_id: str | None = None) -> bool:
        """Stores the conversation on the first frame that stores something, within the
        client's allowance of new conversations; False (and an error frame) when over it."""
        if self.conversation is not None:
            return True
        allowed, retry_after = await client_allowed(self.client, ClientAction.CONVERSATION)
        if not allowed:
            code = "rate_limited" if client_id is not None else "too_many_requests"
            await self.send_limited(code, ClientAction.CONVERSATION, retry_after, client_id)
            return False
        self.conversation = await database_sync_to_async(services.conversation_store_pending)(
            public_id=self.public_id, token=self.token, locale=self.locale
        )
        if self.conversation is None:
            await self.send_frame(error_frame("forbidden", locale=self.locale))
            await self.close(code=FORBIDDEN_CLOSE_CODE)
            return False
        background.visitor_present(self.conversation.pk)
        await self.save_context()
        return True

    def internal_error_frame(self) -> dict[str, Any]:
        return error_frame("internal", locale=self.locale)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.opened:
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
            await self.send_frame(
                error_frame(err.code, locale=self.locale, client_id=err.client_id)
            )
            return
        if not isinstance(frame, UNCOUNTED):
            verdict = take_in_memory(self.chatter, [CHATTER], time.monotonic())
            if not verdict.allowed:
                if isinstance(frame, VisitorContextFrame):
                    self.attributes_unsaved = self.context_take(frame)
                elif not isinstance(frame, QUIET_CHATTER):
                    await self.send_frame(
                        error_frame(
                            "rate_limited", locale=self.locale, retry_after=verdict.retry_after_s
                        )
                    )
                return
        if isinstance(frame, MessageFrame):
            await self.on_message(frame)
        elif isinstance(frame, ResumeFrame):
            await self.on_resume(frame)
        elif isinstance(frame, FeedbackFrame):
            await self.on_feedback(frame)
        elif isinstance(frame, RetryFrame):
            await self.on_retry(frame)
        elif isinstance(frame, PingFrame):
            await self.send_frame({"type": "pong"})
        elif isinstance(frame, HandoffRequestFrame):
            await self.on_handoff(frame)
        elif isinstance(frame, HandoffCancelFrame):
            await self.on_handoff_cancel()
        elif isinstance(frame, VisitorTypingFrame):
            await self.on_typing(frame)
        elif isinstance(frame, VisitorReadFrame):
            await self.on_read(frame)
        elif isinstance(frame, LeaveMessageFrame):
            await self.on_leave_message(frame)
        elif isinstance(frame, RatingFrame):
            await self.on_rating(frame)
        elif isinstance(frame, TranscriptEmailFrame):
            await self.on_transcript_email(frame)
        elif isinstance(frame, VisitorContextFrame):
            await self.on_context(frame)
        elif isinstance(frame, TeamFrame):
            await self.send_frame({"type": "team", "team": await self.team_status()})

    def context_take(self, frame: VisitorContextFrame) -> tuple[dict[str, Any], str]:
        """The site's new attributes (and page) into this socket's context; returns them."""
        attributes = visitor.attributes_clean(frame.attributes)
        page = visitor.context_from_query({"page": frame.page or ""}, user_agent="").page_url
        self.context = replace(
            self.context,
            attributes=attributes,
            has_attributes=True,
            page_url=page or self.context.page_url,
        )
        return attributes, page

    async def on_context(self, frame: VisitorContextFrame) -> None:
        """New attributes from the site: kept for the row until it is stored, else saved.
        Answered with nothing."""
        self.attributes_unsaved = self.context_take(frame)
        await self.attributes_save()

    async def attributes_save(self) -> None:
        """The site's latest attributes onto the stored conversation, if not written yet."""
        if self.attributes_unsaved is None or not await self.stored():
            return
        attributes, page = self.attributes_unsaved
        self.attributes_unsaved = None
        await database_sync_to_async(visitor.visitor_attributes_set)(
            conversation_id=self.conversation.pk, attributes=attributes, page_url=page
        )

    async def _rate_limited(
        self, client_id: str | None = None, *, resend: bool = False, chat: bool = False
    ) -> bool:
        """Takes from the visitor's budget for stored text (messages and left messages); when it
        is spent, sends `rate_limited` with the wait and says so. Nothing is stored then: the
        widget keeps the text and lets the visitor resend it once retry_after has passed.
        With `resend`, a message already stored under `client_id` is let through anyway: it
        stores nothing new, and its resend is acked as a duplicate, not refused. `chat`: a chat
        message, under the live-chat limits while people are in the conversation."""
        with_people = chat and self.status_told in (
            Conversation.Status.QUEUED,
            Conversation.Status.AGENT,
        )
        allowed, retry_after = await visitor_message_allowed(
            self.public_id, self.client, with_people=with_people
        )
        if not allowed and resend and client_id and await self.stored():
            allowed = await database_sync_to_async(selectors.visitor_message_stored)(
                conversation_id=self.conversation.pk, client_id=client_id
            )
        if not allowed:
            await self.send_limited("rate_limited", ClientAction.MESSAGE, retry_after, client_id)
        return not allowed

    async def on_message(self, frame: MessageFrame) -> None:
        await self.attributes_save()  # any the socket's budget held back
        if await self._rate_limited(frame.client_id, resend=True, chat=True):
            return
        accepted = await self._stored_or_refused(frame.client_id, partial(self._store, frame))
        if accepted:
            await self._accepted(frame.client_id, accepted)

    async def _store(self, frame: MessageFrame) -> handoff.Accepted | None:
        """The conversation (a new visitor's first message stores it), then the message; None
        when the conversation may not be stored (its error frame is sent)."""
        if not await self.started(frame.client_id):
            return None
        return await database_sync_to_async(handoff.visitor_message_accept)(
            conversation=self.conversation, client_id=frame.client_id, text=frame.text
        )

    async def _stored_or_refused(
        self, client_id: str, store: Callable[[], Awaitable[handoff.Accepted | None]]
    ) -> handoff.Accepted | None:
        """`store`, tried again once a moment later when the database is out of reach; then
        `not_stored` with the client id, so the widget marks that message Not sent with its
        Retry. After a PostgreSQL restart the first write on a process's old connection failed,
        and the widget, told "internal" without the id, left the message at "Sending…" (a
        walk; a new visitor's first message too, whose conversation is stored first). A retry
        is safe: the failed write was rolled back, and a stored client id is never stored or
        answered twice."""
        for attempt in range(2):
            try:
                return await store()
            except DATABASE_UNAVAILABLE:
                logger.warning("storing a visitor message failed (attempt %d)", attempt + 1)
                if attempt == 0:
                    await asyncio.sleep(STORE_RETRY_DELAY_S)
        await self.send_frame(error_frame("not_stored", locale=self.locale, client_id=client_id))
        return None

    async def on_retry(self, frame: RetryFrame) -> None:
        """A "try again" after a thumbs-down: the question once more, past the stored answers."""
        if await self._rate_limited(frame.client_id, resend=True):
            return
        if not await self.stored():  # nothing stored yet, so no answer to try again
            await self.send_frame(
                error_frame("not_found", locale=self.locale, client_id=frame.client_id)
            )
            return
        try:
            accepted = await database_sync_to_async(handoff.visitor_retry_accept)(
                conversation=self.conversation,
                client_id=frame.client_id,
                message_id=frame.message_id,
            )
        except DATABASE_UNAVAILABLE:
            logger.warning("storing a visitor's try-again failed", exc_info=True)
            await self.send_frame(
                error_frame("not_stored", locale=self.locale, client_id=frame.client_id)
            )
            return
        if accepted is None:
            await self.send_frame(
                error_frame("not_found", locale=self.locale, client_id=frame.client_id)
            )
            return
        await self._accepted(frame.client_id, accepted, skip=answering.RETRY_SKIPPED_STAGES)

    async def _accepted(
        self, client_id: str, accepted: handoff.Accepted, skip: frozenset[str] = frozenset()
    ) -> None:
        """Acks a stored visitor message, shows it in the conversation's other sockets, and
        starts its answer when the bot answers it."""
        message = accepted.message
        await self.send_frame(
            {
                "type": "ack",
                "client_id": client_id,
                "message_id": message.id,
                "created": message.created_at.isoformat(),
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
                message.id,
                self.public_id,
                self.locale,
                turn=accepted.turn,
                client=self.client,
                skip=skip,
                again=not accepted.created,
            )

    async def on_resume(self, frame: ResumeFrame) -> None:
        # Nothing stored yet, so nothing to replay (an upload over HTTP may have stored it).
        if not await self.stored():
            await self.send_frame({"type": "resumed", "last_id": 0})
            return
        messages = await database_sync_to_async(services.messages_after)(
            conversation=self.conversation, after=frame.after
        )
        for message in messages:
            await self.send_frame({"type": "message", "message": services.message_payload(message)})
        # A client ahead of the store (it shows ids this conversation never had) is told the
        # newest id there is, not its own number back.
        last_id = (
            messages[-1].id
            if messages
            else min(
                frame.after,
                await database_sync_to_async(services.last_message_id)(
                    conversation=self.conversation
                ),
            )
        )
        await self.send_frame({"type": "resumed", "last_id": last_id})
        pending = await database_sync_to_async(services.unanswered_visitor_message_ids)(
            conversation=self.conversation
        )
        if not pending:
            return
        state = shared_state()
        claimed = False
        for message_id in pending:
            # Only while its writer's claim lives: a dead writer's text would never complete.
            if await state.read(answering.answering_key(message_id)) is None:
                continue
            claimed = True
            partial = await state.read(answering.partial_key(message_id))
            if partial:
                await self.send_frame(
                    {"type": "token", "reply_to": message_id, "offset": 0, "text": partial}
                )
        # Questions whose answer died with its process are answered again now; a claim seen
        # alive may be a dead process's that has not lapsed yet: looked at again once it has.
        await recovery.conversation_resumed(self.conversation.pk)
        if claimed:
            recovery.recheck_later(self.conversation.pk)

    async def on_feedback(self, frame: FeedbackFrame) -> None:
        if self.conversation is None:
            await self.send_frame(error_frame("not_found", locale=self.locale))
            return
        feedback = await database_sync_to_async(services.feedback_record)(
            conversation=self.conversation,
            message_id=frame.message_id,
            value=frame.value,
            comment=frame.comment,
        )
        if feedback is None:
            await self.send_frame(error_frame("not_found", locale=self.locale))

    async def on_handoff(self, frame: HandoffRequestFrame) -> None:
        """The visitor asked for a person. Already queued: they get their place again."""
        allowed, retry_after = await client_allowed(self.client, ClientAction.HANDOFF)
        if not allowed:
            await self.send_limited("handoff_limited", ClientAction.HANDOFF, retry_after)
            return
        if not await self.started():
            return
        queued = await database_sync_to_async(handoff.conversation_handoff)(
            conversation_id=self.conversation.pk, reason=frame.reason
        )
        if not queued and not await self.send_queue_place():
            await self.send_status()

    async def on_handoff_cancel(self) -> None:
        """The queued visitor goes back to the bot; the service tells every socket. Not queued
        (an agent claimed it meanwhile): they get the current state. Takes from the message
        budget: each queue change is pushed to every agent, so toggling must not be free."""
        if await self._rate_limited():
            return
        if not await self.stored():  # never stored, so never queued
            await self.send_frame({"type": "conversation", "status": Conversation.Status.BOT})
            return
        if await database_sync_to_async(handoff.conversation_handoff_cancel)(
            conversation_id=self.conversation.pk
        ):
            await recovery.conversation_resumed(self.conversation.pk)  # what they asked meanwhile
        else:
            await self.send_status()

    async def send_status(self) -> None:
        status = await database_sync_to_async(selectors.conversation_status)(
            conversation_id=self.conversation.pk
        )
        await self.send_frame({"type": "conversation", "status": status})

    async def on_typing(self, frame: VisitorTypingFrame) -> None:
        if self.conversation is None:
            return  # no agent can be viewing a conversation not stored yet
        public_id = self.public_id
        await self.channel_layer.group_send(
            realtime.console_group(public_id),
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

    async def on_read(self, frame: VisitorReadFrame) -> None:
        """Read receipts for agent messages: the agents viewing the conversation see them."""
        if self.conversation is None:
            return
        newest = await database_sync_to_async(handoff.visitor_read_record)(
            conversation_id=self.conversation.pk, up_to=frame.up_to
        )
        if newest is None:
            return
        public_id = self.public_id
        await self.channel_layer.group_send(
            realtime.console_group(public_id),
            {
                "type": "console.frame",
                "frame": {"type": "read", "conversation": public_id, "up_to": newest},
            },
        )

    async def on_leave_message(self, frame: LeaveMessageFrame) -> None:
        if await self._rate_limited() or not await self.started():
            return
        stored = await database_sync_to_async(handoff.left_message_store)(
            conversation_id=self.conversation.pk, email=frame.email, text=frame.text
        )
        if stored is None:
            await self.send_frame(error_frame("left_message_limit", locale=self.locale))
            return
        await self.send_frame({"type": "left_message", "email": frame.email, "text": frame.text})

    async def on_transcript_email(self, frame: TranscriptEmailFrame) -> None:
        if await self._rate_limited():
            return
        if not await self.stored():  # nothing written yet, so no transcript
            await self.send_frame(error_frame("transcript_empty", locale=self.locale))
            return
        identity = self.context.identity
        requested = await database_sync_to_async(handoff.transcript_email_request)(
            conversation_id=self.conversation.pk,
            email=frame.email,
            verified_email=identity.email if identity is not None else "",
        )
        if requested is None:
            await self.send_frame(error_frame("transcript_limit", locale=self.locale))
            return
        confirm = requested.confirmed_at is None  # a link went out first
        await self.send_frame(
            {"type": "transcript_email", "email": frame.email, "confirm": confirm}
        )

    async def team_status(self) -> dict[str, Any]:
        """Hello's `team`: hours and agents online, read at most every few seconds per process,
        not on every connect."""
        team = hours.configured_cached() or await database_sync_to_async(hours.configured_load)()
        return hours.team_status(team, locale=self.locale)

    async def on_rating(self, frame: RatingFrame) -> None:
        if self.conversation is not None and await database_sync_to_async(handoff.rating_record)(
            conversation_id=self.conversation.pk, score=frame.score, comment=frame.comment
        ):
            # To every tab of the conversation: another tab's rating form goes too, so a
            # second, forgotten form does not replace this rating later.
            rated = {"type": "rated", "score": frame.score}
            await self.channel_layer.group_send(self.group, {"type": "chat.frame", "frame": rated})
        else:
            await self.send_frame(error_frame("not_closed", locale=self.locale))

    async def send_queue_place(self) -> bool:
        """Sends the visitor's place in the queue; False when the conversation is not queued."""
        if self.conversation is None:
            return False
        frame = await database_sync_to_async(selectors.handoff_frame)(
            conversation_id=self.conversation.pk
        )
        if frame is not None:
            self.queue_place_sent = frame
            await self.send_frame(frame)
        return frame is not None

    async def chat_frame(self, event: dict[str, Any]) -> None:
        """A frame published to this conversation's group (answer events, others' messages)."""
        if event.get("exclude") == self.channel_name:
            return
        frame = event["frame"]
        if frame["type"] in HOLD_FRAMES:
            answering.hold_may_have_changed(self.public_id)
        if frame["type"] == "handoff":
            if frame == self.queue_place_sent:
                return
            self.queue_place_sent = frame
        elif frame["type"] == "conversation":
            self.queue_place_sent = None
        await self.send_frame(frame)
