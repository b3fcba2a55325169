"""The agent console's socket: parse and validate, call one handoff service, relay.

Only staff users in the "agents" group get in (the session's user, from AuthMiddlewareStack);
every action is taken as that user, never as anyone a frame names. An agent views one
conversation at a time: its socket joins that conversation's `chat.` group (the messages the
visitor sees) and `console.` group (notes, visitor typing, viewers), and always `console.queue`.
"""

import asyncio
import logging
from datetime import datetime
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from chatbot import metrics, realtime, recovery
from chatbot.consumers.base import JsonSocketConsumer
from chatbot.database_lanes import on_retrieval_lane
from chatbot.handoff import assignment, background, presence, selectors
from chatbot.handoff import services as handoff
from chatbot.handoff.protocol import (
    AgentTypingFrame,
    AssignFrame,
    CannedFrame,
    ClaimFrame,
    CloseFrame,
    HistoryFrame,
    LeaveFrame,
    LeftReplyFrame,
    LinkFaqFrame,
    NoteFrame,
    OpenFrame,
    PingFrame,
    PreferencesFrame,
    PresenceFrame,
    QueuePageFrame,
    ReturnFrame,
    RosterFrame,
    SearchFrame,
    SendFrame,
    parse_agent_frame,
)
from chatbot.observability.logs import set_conversation
from chatbot.protocol import PROTOCOL_VERSION, ProtocolError
from chatbot.services import visitor_facing_agent_name

logger = logging.getLogger(__name__)

FORBIDDEN_CLOSE_CODE = 4403
# Frames whose database failure the agent is not told of: sent again anyway (a keystroke, the
# next heartbeat; a ping left unanswered makes the console reconnect).
UNNOTICED_FRAMES = (AgentTypingFrame, PingFrame)
ACCOUNT_CHANGE_SETTLE_S = 1.0
# Frames of the viewed conversation's chat group an agent needs (not the token stream, nor the
# visitor's queue place: the console shows the queue from its own list, and each wave repeated
# the place to every agent viewing).
RELAYED = {"message", "done", "typing", "conversation", "cancelled"}


class AgentConsumer(JsonSocketConsumer):
    viewing: str | None = None
    admitted = False
    seen_at: datetime | None = None  # this socket's last heartbeat, as written
    access_check: asyncio.Task[None] | None = None  # a look at the session after a change
    access_watch: asyncio.Task[None] | None = None
    # A socket that sends nothing is looked at this often: a change no signal reports (a
    # session deleted, an account changed from another process without Redis) left one that
    # only listened reading every conversation for as long as it stayed open.
    ACCESS_RECHECK_S = 60.0

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        if not await database_sync_to_async(selectors.is_agent)(self.user):
            await self.close(code=FORBIDDEN_CLOSE_CODE)  # before accept: the handshake fails
            return
        self.admitted = True
        self.name = selectors.agent_name(self.user)
        await self.accept()
        self.access_watch = asyncio.get_running_loop().create_task(self._watch_access())
        metrics.WEBSOCKETS.labels("agent").inc()
        await self.channel_layer.group_add(realtime.QUEUE_GROUP, self.channel_name)
        await self.channel_layer.group_add(realtime.agent_group(self.user.pk), self.channel_name)
        background.sweeper_acquire()
        self.seen_at = timezone.now()
        await database_sync_to_async(handoff.presence_update)(
            agent=self.user, seen=True, at=self.seen_at
        )
        await self.send_frame(await database_sync_to_async(self._hello)())

    def _hello(self) -> dict[str, Any]:
        snapshot = selectors.open_conversations()
        return {
            "type": "hello",
            "v": PROTOCOL_VERSION,
            "agent": {
                "id": self.user.pk,
                "name": self.name,
                "visitor_name": visitor_facing_agent_name(self.user),
                "may_take_over": assignment.may_take_over(self.user),
            },
            "presence": selectors.agent_presence_status(user=self.user),
            "agents_online": selectors.agents_online(),
            "conversations": snapshot["items"],
            "counts": snapshot["counts"],
            "page_size": snapshot["page_size"],
            "left_messages": selectors.left_messages_inbox(),
            "sla": {
                "wait_s": settings.HANDOFF_SLA_WAIT_S,
                "first_reply_s": settings.HANDOFF_SLA_FIRST_REPLY_S,
                "visitor_waiting_s": settings.HANDOFF_SLA_VISITOR_WAITING_S,
            },
            "preferences": assignment.preferences(user=self.user),
            "roster": assignment.roster(),
            "auto_assign": settings.HANDOFF_AUTO_ASSIGN,
        }

    async def disconnect(self, code: int) -> None:
        if not self.admitted:
            return
        closed_at = timezone.now()  # before any wait: a reconnect may be recorded first
        for task in (self.access_check, self.access_watch):
            if task is not None:
                task.cancel()
        metrics.WEBSOCKETS.labels("agent").dec()
        await self.leave_conversation()
        await self.channel_layer.group_discard(realtime.QUEUE_GROUP, self.channel_name)
        await self.channel_layer.group_discard(
            realtime.agent_group(self.user.pk), self.channel_name
        )
        await database_sync_to_async(handoff.presence_update)(
            agent=self.user, seen=False, at=closed_at, seen_before=self.seen_at
        )
        await background.sweeper_release()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self.send_error("binary_not_supported")
            return
        try:
            frame = parse_agent_frame(text_data, max_bytes=settings.CHAT_MAX_FRAME_BYTES)
        except ProtocolError as err:
            await self.send_error(err.code)
            return
        set_conversation(getattr(frame, "conversation", None))
        try:
            if not await self.still_admitted():
                return
            await self.dispatch_frame(frame)
        except DatabaseError:
            if not isinstance(frame, UNNOTICED_FRAMES):
                raise
            # Typing and read marks are sent again with the next keystroke or look: an error
            # notice for one ("That did not work (internal)" after a database restart, when
            # the agent's reply a moment later went) told the agent of a failure of nothing.
            logger.warning("a %s frame failed on the database", frame.type)
        except handoff.HandoffError as err:
            # A reply names its client id: the console keeps a reply until it is acked or
            # refused, and sends it again on a new socket.
            named = {"client_id": frame.client_id} if isinstance(frame, SendFrame) else {}
            await self.send_error(err.code, **err.detail, **named)

    async def dispatch_frame(self, frame: Any) -> None:
        if isinstance(frame, PingFrame | PresenceFrame):
            status = frame.status if isinstance(frame, PresenceFrame) else None
            self.seen_at = timezone.now()
            await database_sync_to_async(handoff.presence_update)(
                agent=self.user, status=status, seen=True, at=self.seen_at
            )
            if self.viewing:
                await self.publish_viewers(
                    await presence.viewers_touch(
                        public_id=self.viewing, user_id=self.user.pk, name=self.name
                    )
                )
            await self.send_frame(
                {
                    "type": "presence",
                    "status": status or await self._presence(),
                    "agents_online": await database_sync_to_async(selectors.agents_online)(),
                }
            )
        elif isinstance(frame, OpenFrame):
            await self.open_conversation(frame.conversation)
        elif isinstance(frame, HistoryFrame):
            await self.send_history(frame)
        elif isinstance(frame, LeaveFrame):
            await self.leave_conversation()
        elif isinstance(frame, ClaimFrame):
            result = await database_sync_to_async(handoff.conversation_claim)(
                public_id=frame.conversation, agent=self.user
            )
            if result.won:
                await self.send_frame({"type": "claimed", "conversation": frame.conversation})
            else:
                await self.send_error(
                    "already_claimed", conversation=frame.conversation, owner=result.owner
                )
        elif isinstance(frame, SendFrame):
            message, created = await database_sync_to_async(handoff.agent_message_send)(
                public_id=frame.conversation,
                agent=self.user,
                client_id=frame.client_id,
                text=frame.text,
            )
            await self.send_frame(
                {
                    "type": "ack",
                    "conversation": frame.conversation,
                    "client_id": frame.client_id,
                    "message_id": message.id,
                    "duplicate": not created,
                }
            )
        elif isinstance(frame, AgentTypingFrame):
            await self.relay_typing(frame)
        elif isinstance(frame, NoteFrame):
            await database_sync_to_async(handoff.note_add)(
                public_id=frame.conversation, agent=self.user, text=frame.text
            )
        elif isinstance(frame, ReturnFrame):
            conversation_id = await database_sync_to_async(handoff.conversation_return_to_bot)(
                public_id=frame.conversation, agent=self.user
            )
            await recovery.conversation_resumed(conversation_id)
        elif isinstance(frame, CloseFrame):
            await database_sync_to_async(handoff.conversation_close)(
                public_id=frame.conversation, agent=self.user, reason=frame.reason
            )
        elif isinstance(frame, QueuePageFrame):
            items, counts = await database_sync_to_async(self._queue_page)(frame.offset)
            await self.send_frame(
                {"type": "queue_page", "offset": frame.offset, "items": items, "counts": counts}
            )
        elif isinstance(frame, SearchFrame):
            items = await database_sync_to_async(selectors.conversations_search)(query=frame.query)
            await self.send_frame({"type": "search_results", "query": frame.query, "items": items})
        elif isinstance(frame, CannedFrame):
            items = await database_sync_to_async(selectors.canned_replies)(
                query=frame.query, locale=frame.locale
            )
            articles = await on_retrieval_lane(selectors.help_articles)(
                query=frame.query, locale=frame.locale
            )
            await self.send_frame(
                {
                    "type": "canned_results",
                    "query": frame.query,
                    "items": items,
                    "articles": articles,
                }
            )
        elif isinstance(frame, LinkFaqFrame):
            linked = await database_sync_to_async(handoff.faq_link_question)(
                public_id=frame.conversation, faq_id=frame.faq, message_id=frame.message
            )
            await self.send_frame(
                {"type": "faq_linked", "conversation": frame.conversation, **linked}
            )
        elif isinstance(frame, LeftReplyFrame):
            message, created = await database_sync_to_async(handoff.left_message_reply)(
                left_message_id=frame.left_message,
                agent=self.user,
                client_id=frame.client_id,
                text=frame.text,
            )
            await self.send_frame(
                {
                    "type": "left_replied",
                    "left_message": frame.left_message,
                    "client_id": frame.client_id,
                    "message_id": message.id,
                    "duplicate": not created,
                }
            )
        else:
            await self.dispatch_assignment_frame(frame)

    async def dispatch_assignment_frame(self, frame: Any) -> None:
        """Assignment, the roster and the agent's preferences (chatbot.handoff.assignment)."""
        if isinstance(frame, AssignFrame):
            event = await database_sync_to_async(assignment.conversation_assign)(
                public_id=frame.conversation,
                agent=self.user,
                to_agent_id=frame.agent,
                to_team_id=frame.team,
            )
            await self.send_frame(
                {"type": "assign_done", "conversation": frame.conversation, "event": event}
            )
        elif isinstance(frame, RosterFrame):
            await self.send_frame(
                {"type": "roster", **await database_sync_to_async(assignment.roster)()}
            )
        elif isinstance(frame, PreferencesFrame):
            stored = await database_sync_to_async(assignment.preferences_update)(
                user=self.user, sound=frame.sound, desktop=frame.desktop, title=frame.title
            )
            await self.send_frame({"type": "preferences", **stored})

    @staticmethod
    def _queue_page(offset: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
        return selectors.queue_page(offset=offset), selectors.open_counts()

    async def _presence(self) -> str:
        return await database_sync_to_async(selectors.agent_presence_status)(user=self.user)

    @staticmethod
    def _detail(public_id: str) -> dict[str, Any] | None:
        detail = selectors.conversation_detail(public_id=public_id)
        if detail is not None:
            detail["events"] = assignment.events_for(public_id=public_id)
        return detail

    async def open_conversation(self, public_id: str) -> None:
        """Joins the conversation's groups, then reads its transcript: what is published
        meanwhile comes live after it (the console drops what it has by id). Read first, the
        messages stored between the read and the join were in neither: after a Redis outage a
        reconnected console missed two visitor messages for good (a walk)."""
        if self.viewing != public_id:
            await self.leave_conversation()
            self.viewing = public_id
            await self.channel_layer.group_add(
                realtime.conversation_group(public_id), self.channel_name
            )
            await self.channel_layer.group_add(realtime.console_group(public_id), self.channel_name)
        detail = await database_sync_to_async(self._detail)(public_id)
        if detail is None:
            await self.leave_conversation()
            raise handoff.HandoffError("not_found", conversation=public_id)
        await self.send_frame({"type": "transcript", **detail})
        await self.publish_viewers(
            await presence.viewers_touch(public_id=public_id, user_id=self.user.pk, name=self.name)
        )

    async def send_history(self, frame: HistoryFrame) -> None:
        """A page of older messages of a long conversation (docs/console.md)."""
        page = await database_sync_to_async(selectors.history_page)(
            public_id=frame.conversation, before=frame.before
        )
        if page is None:
            raise handoff.HandoffError("not_found", conversation=frame.conversation)
        messages, has_more = page
        await self.send_frame(
            {
                "type": "history",
                "conversation": frame.conversation,
                "messages": messages,
                "has_more": has_more,
            }
        )

    async def leave_conversation(self) -> None:
        public_id, self.viewing = self.viewing, None
        if public_id is None:
            return
        await self.channel_layer.group_discard(
            realtime.conversation_group(public_id), self.channel_name
        )
        await self.channel_layer.group_discard(realtime.console_group(public_id), self.channel_name)
        await self.publish_viewers(
            await presence.viewers_leave(public_id=public_id, user_id=self.user.pk),
            public_id=public_id,
        )

    async def publish_viewers(self, names: list[str], public_id: str | None = None) -> None:
        public_id = public_id or self.viewing
        await self.channel_layer.group_send(
            realtime.console_group(public_id),
            {
                "type": "console.frame",
                "frame": {"type": "viewers", "conversation": public_id, "viewers": names},
            },
        )

    async def relay_typing(self, frame: AgentTypingFrame) -> None:
        """Only the owner's typing reaches the visitor (and the other agents viewing). Anyone
        else's is dropped without an error: the "stopped typing" that goes with a refused reply
        answered `not_owner` too, and its notice replaced the one giving the reply's words back
        (a re-walk)."""
        owner = await database_sync_to_async(selectors.conversation_owner_id)(
            public_id=frame.conversation
        )
        if owner != self.user.pk:
            return
        await self.channel_layer.group_send(
            realtime.conversation_group(frame.conversation),
            {
                "type": "chat.frame",
                "frame": {"type": "typing", "role": "agent", "active": frame.active},
                "exclude": self.channel_name,
                "typing_agent": self.user.pk,
            },
        )

    # --- group events ----------------------------------------------------------------------

    async def chat_frame(self, event: dict[str, Any]) -> None:
        """A frame of the viewed conversation's chat group, tagged with its conversation."""
        frame = event["frame"]
        if event.get("exclude") == self.channel_name or frame.get("type") not in RELAYED:
            return
        if self.viewing is None or event.get("typing_agent") == self.user.pk:
            return  # an agent's own typing in another tab is not "another agent typing"
        if (team_author := event.get("team_author")) and "author" in frame.get("message", {}):
            message = frame["message"]
            frame = {
                **frame,
                "message": {**message, "author": {**message["author"], "name": team_author}},
            }
        await self.send_frame({**frame, "conversation": self.viewing})

    async def console_frame(self, event: dict[str, Any]) -> None:
        await self.send_frame(event["frame"])

    async def console_access(self, event: dict[str, Any]) -> None:
        """The agent signed out, or their account changed (chatbot.handoff.access): a socket of
        the session that signed out closes at once, the others if they lost the right."""
        ended = event.get("session_key")
        if ended is not None and ended == self.scope["session"].session_key:
            await self.close(code=FORBIDDEN_CLOSE_CODE)
        elif ended is None and self.access_check is None:
            # A password change is saved just before its own session gets the new hash: a
            # moment later, that session is still in and the others are out. On a task of its
            # own: this socket's other frames do not wait that moment.
            self.access_check = asyncio.get_running_loop().create_task(self._check_soon())

    async def _check_soon(self) -> None:
        try:
            await asyncio.sleep(ACCOUNT_CHANGE_SETTLE_S)
            await self.still_admitted()
        finally:
            self.access_check = None

    async def _watch_access(self) -> None:
        while True:
            await asyncio.sleep(self.ACCESS_RECHECK_S)
            if not await self.still_admitted():
                return

    async def still_admitted(self) -> bool:
        """Closes the socket when its session is no longer an agent's; checked before every
        frame (pings included), on every change to the account and every ACCESS_RECHECK_S."""
        if await database_sync_to_async(selectors.still_signed_in_agent)(
            session_key=self.scope["session"].session_key, user_id=self.user.pk
        ):
            return True
        await self.close(code=FORBIDDEN_CLOSE_CODE)
        return False

    async def send_error(self, code: str, **detail: Any) -> None:
        await self.send_frame({"type": "error", "code": code, **detail})
