"""An open console socket keeps no right its session has lost: signing out, a deactivated
account, losing the agents group or a changed password close it (4403), where before it kept
reading every conversation and sending as the agent (security walk)."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User
from django.contrib.sessions.models import Session
from django.test import Client as HttpClient

from chatbot.asgi import application
from chatbot.consumers.agent import AgentConsumer
from tests.handoff.conftest import CONSOLE_HEADERS, make_agent

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("settle", "settle_handoffs"),
]


def signed_in(user: User) -> HttpClient:
    client = HttpClient()
    client.force_login(user)
    return client


@asynccontextmanager
async def console(http: HttpClient) -> AsyncIterator[WebsocketCommunicator]:
    cookie = f"sessionid={http.cookies['sessionid'].value}".encode()
    socket = WebsocketCommunicator(
        application, "/ws/console/", headers=[*CONSOLE_HEADERS, (b"cookie", cookie)]
    )
    connected, _ = await socket.connect()
    assert connected
    assert json.loads(await socket.receive_from(timeout=5))["type"] == "hello"
    try:
        yield socket
    finally:
        await socket.disconnect()


async def closed_with(socket: WebsocketCommunicator) -> int | None:
    """The close code once the server closes the socket (frames before it are skipped)."""
    while True:
        output = await socket.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output.get("code")


async def still_open(socket: WebsocketCommunicator) -> bool:
    """The socket answers a ping (frames before the answer, such as another agent's going
    offline, are skipped: one came first under load and read as a closed socket)."""
    await socket.send_to(text_data=json.dumps({"type": "ping", "v": 1}))
    while True:
        output = await socket.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return False
        if json.loads(output["text"])["type"] == "presence":
            return True


async def test_signing_out_closes_that_sessions_console_and_no_other():
    ann = await database_sync_to_async(make_agent)("ann")
    laptop, phone = await database_sync_to_async(signed_in)(ann), None
    phone = await database_sync_to_async(signed_in)(ann)
    async with console(laptop) as on_laptop, console(phone) as on_phone:
        response = await database_sync_to_async(laptop.post)("/console/logout/")
        assert response.status_code == 302
        assert await closed_with(on_laptop) == 4403
        assert await still_open(on_phone), "the phone's session is still signed in"


@pytest.mark.parametrize(
    "change",
    [
        lambda user: (setattr(user, "is_active", False), user.save()),
        lambda user: user.groups.remove(Group.objects.get(name="agents")),
        lambda user: Group.objects.get(name="agents").user_set.remove(user),
        lambda user: (user.set_password("a-new-one-123"), user.save()),
    ],
    ids=["deactivated", "left-the-agents-group", "group-emptied-of-them", "password-changed"],
)
async def test_an_account_that_lost_the_right_is_closed_while_only_listening(change):
    bob = await database_sync_to_async(make_agent)("bob")
    async with console(await database_sync_to_async(signed_in)(bob)) as socket:
        await database_sync_to_async(change)(
            await database_sync_to_async(User.objects.get)(pk=bob.pk)
        )
        assert await closed_with(socket) == 4403


async def test_a_session_gone_from_the_store_is_refused_at_the_next_frame():
    """No signal says so (an expired session cleared, a session deleted by hand): the next
    frame, at the latest the console's 15-second ping, finds out."""
    cy = await database_sync_to_async(make_agent)("cy")
    async with console(await database_sync_to_async(signed_in)(cy)) as socket:
        assert await still_open(socket)
        await database_sync_to_async(Session.objects.all().delete)()
        await socket.send_to(text_data=json.dumps({"type": "search", "query": "refund", "v": 1}))
        assert await closed_with(socket) == 4403


async def test_a_socket_that_only_listens_is_looked_at_without_any_frame(monkeypatch):
    """A client that never pings (a script, not the console) kept reading every conversation
    after its session went, for as long as the socket stayed open."""
    monkeypatch.setattr(AgentConsumer, "ACCESS_RECHECK_S", 0.2)
    eve = await database_sync_to_async(make_agent)("eve")
    async with console(await database_sync_to_async(signed_in)(eve)) as socket:
        await database_sync_to_async(Session.objects.all().delete)()
        assert await closed_with(socket) == 4403


async def test_changing_ones_own_password_keeps_the_browser_that_changed_it_signed_in():
    """The socket's check once flushed the session it looked at (django.contrib.auth.get_user
    does, for a stale hash) and signed the agent out of the browser they changed their
    password in (a walk). The change gives that browser a new session key: its old socket
    closes, and the console, reloading, is still signed in."""
    dee = await database_sync_to_async(make_agent)("dee")
    browser = await database_sync_to_async(signed_in)(dee)
    async with console(browser) as socket:
        response = await database_sync_to_async(browser.post)(
            "/admin/password_change/",
            {
                "old_password": "pw-dee",
                "new_password1": "a-much-newer-one-42",
                "new_password2": "a-much-newer-one-42",
            },
        )
        assert response.status_code == 302
        assert await closed_with(socket) == 4403
    page = await database_sync_to_async(browser.get)("/console/")
    assert page.status_code == 200, "still signed in"
    async with console(browser) as again:
        assert await still_open(again)
