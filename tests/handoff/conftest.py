"""Agents (staff users in the "agents" group) and their console sockets, logged in through a
real session cookie the way a browser is."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User
from django.test import Client as HttpClient
from django.utils import timezone

from chatbot import tasks
from chatbot.asgi import application
from chatbot.handoff import background
from chatbot.handoff import tasks as mail_tasks
from chatbot.handoff.models import AgentPresence
from tests.conftest import ORIGIN, Socket

# The console's socket takes only the site's own origin: the page's Host header is sent too.
CONSOLE_HEADERS = [*ORIGIN, (b"host", b"localhost")]


class Agent(Socket):
    """An agent console socket with helpers to read frames."""

    async def recv_until(
        self, match: Callable[[dict[str, Any]], bool] | str, timeout: float = 10
    ) -> dict[str, Any]:
        """The first frame matching (a type name or a predicate), skipping others."""
        predicate = match if callable(match) else (lambda f: f["type"] == match)
        while True:
            frame = await self.recv(timeout)
            if predicate(frame):
                return frame


def make_agent(
    username: str, *, staff: bool = True, in_group: bool = True, first_name: str | None = None
) -> User:
    """An agent named after their login unless `first_name` says otherwise ("" for none)."""
    user = User.objects.create_user(
        username,
        password="pw-" + username,
        first_name=username if first_name is None else first_name,
    )
    user.is_staff = staff
    user.save(update_fields=["is_staff"])
    if in_group:
        user.groups.add(Group.objects.get_or_create(name="agents")[0])
    return user


async def online_agent(name: str) -> None:
    """An agent whose console is open now (agents online: 1 more)."""
    agent = await database_sync_to_async(make_agent)(name)
    await database_sync_to_async(AgentPresence.objects.create)(
        user=agent, status=AgentPresence.Status.ONLINE, last_seen_at=timezone.now()
    )


def session_cookie(user: User) -> str:
    client = HttpClient()
    client.force_login(user)
    return client.cookies["sessionid"].value


@asynccontextmanager
async def agent_socket(user: User | None) -> AsyncIterator[Agent]:
    headers = list(CONSOLE_HEADERS)
    if user is not None:
        cookie = await database_sync_to_async(session_cookie)(user)
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected, "the console socket was refused"
    agent = Agent(communicator)
    try:
        agent.hello = await agent.recv()
        yield agent
    finally:
        await communicator.disconnect()


async def refused(user: User | None) -> bool:
    headers = list(CONSOLE_HEADERS)
    if user is not None:
        cookie = await database_sync_to_async(session_cookie)(user)
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return not connected


@pytest.fixture
def agents(db) -> dict[str, User]:
    return {
        "ann": make_agent("ann"),
        "bob": make_agent("bob"),
    }


@pytest.fixture
async def settle_handoffs() -> AsyncIterator[None]:
    """Waits for the queued-answer kicks a socket's connect starts (chatbot.tasks), the
    coalesced queue broadcasts and the emails being sent, before the database goes."""
    yield
    await tasks.wait_for_drains()
    await background.wait_for_pending()
    await mail_tasks.wait_for_pending()


@pytest.fixture(scope="session", autouse=True)
def _warm_embedder() -> None:
    """Loads the FAQ stage's embedding model once up front, so the first answer in a test is
    not the one that waits seconds for it (answers are read with short timeouts)."""
    from knowledge.embeddings import get_embedder

    get_embedder().embed(["warm up"])
