"""Socket addressing: the channel-layer group names and publishing a frame to a conversation.

A leaf that imports no feature code, so anything that talks to a socket (answers, handoff,
queued answers, the LLM stage's status) depends on this and not on the module that runs answers
(docs/architecture.md, "Import map")."""

from typing import Any

from channels.layers import get_channel_layer

# Every agent console: the open-conversation list, left messages.
QUEUE_GROUP = "console.queue"


def conversation_group(public_id: str) -> str:
    """The conversation's sockets: the visitor's tabs and agents viewing it."""
    return f"chat.{public_id}"


def console_group(public_id: str) -> str:
    """Only agents viewing the conversation: notes, the visitor typing, viewers."""
    return f"console.{public_id}"


def agent_group(user_id: int) -> str:
    """Every console socket of one agent: work given to them, their visitors writing."""
    return f"console.agent.{user_id}"


async def publish(public_id: str, frame: dict[str, Any]) -> None:
    """A protocol frame to every socket of the conversation."""
    await get_channel_layer().group_send(
        conversation_group(public_id), {"type": "chat.frame", "frame": frame}
    )
