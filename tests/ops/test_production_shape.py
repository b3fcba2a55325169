"""The production shape as `make run-prod` starts it (`manage.py serve --prod`, docs/deploy.md):
PostgreSQL + pgvector, its own Redis, three daphne processes, a Celery worker and beat, nginx in
front. Through nginx a visitor gets the store page, the widget's script (served by nginx from
disk) and an FAQ answer over the websocket; a conversation whose visitor, agent and second tab
sit on three different processes gets every frame to everyone, in order; Django sees the
visitor's address, scheme and host as nginx passed them, never as a client wrote them.

Visitors come from loopback addresses of their own (127.0.0.x) so nginx, and the per-client
limits behind it, tell them apart."""

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psutil
import pytest
import websockets

from tests.servers import (
    REPO,
    JsonSocket,
    ProductionShape,
    create_agent,
    load_faqs,
    login_cookie,
    production_shape,
    ws_connect,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

AGENT, PASSWORD = "amy", "pw-amy-5521"


@pytest.fixture(scope="module")
def shape(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductionShape]:
    # Two connects per visitor address, then one a minute: the test of client addresses runs
    # into it; every other test connects from an address of its own.
    with production_shape(
        tmp_path_factory.mktemp("prod"),
        processes=3,
        CHAT_CLIENT_LIMITS="connect=1/2,conversation=0/0,message=0/0,handoff=0/0,model=0/0",
        CHAT_VISITOR_MESSAGE_BURST="50",
    ) as running:
        create_agent(running.env, AGENT, PASSWORD)
        load_faqs(running.env)
        yield running


def _run(coroutine) -> Any:
    # A thread of its own: Playwright's sync API may hold a running loop in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _daphne_logs(shape: ProductionShape) -> str:
    return "".join(p.read_text(errors="replace") for p in shape.layout.logs.glob("daphne-*.log"))


def test_the_widget_and_an_faq_answer_through_nginx(shape):
    client = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.11"))
    page = client.get(shape.url + "/")
    assert page.status_code == 200
    script = re.search(r'<script src="(/static/chatbot/widget\.js)"', page.text)
    assert script, "the store page embeds the widget"
    widget = client.get(shape.url + script.group(1))
    assert widget.status_code == 200
    assert widget.text == (REPO / "static" / "chatbot" / "widget.js").read_text()
    assert widget.headers["content-type"] == "text/javascript"
    assert widget.headers["content-encoding"] == "gzip"  # 28 kB on the wire instead of 99
    # nginx served it from the collected files; no daphne saw the request.
    assert widget.headers["cache-control"] == "public, max-age=3600"
    assert "/static/chatbot/widget.js" not in _daphne_logs(shape)

    async def ask() -> list[dict[str, Any]]:
        async with ws_connect(shape.url, "/ws/chat/", source="127.0.0.11") as ws:
            visitor = JsonSocket(ws)
            await visitor.until("hello")
            await visitor.send(
                {"type": "message", "client_id": "q-1", "text": "How long does shipping take?"}
            )
            await visitor.until("done", timeout=30)
            return visitor.seen

    frames = _run(ask())
    done = frames[-1]
    assert done["source"] == "faq"
    assert "working days" in done["message"]["text"]
    streamed = "".join(f["text"] for f in frames if f["type"] == "token")
    assert streamed == done["message"]["text"]


def test_a_message_over_a_mebibyte_gets_an_error_frame_and_the_socket_goes_on(shape):
    """daphne (autobahn) dropped such a socket without a close frame (1006): the protocol
    promises an error frame and a usable socket for every bad frame (docs/protocol.md)."""

    async def oversized() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        async with ws_connect(shape.url, "/ws/chat/", source="127.0.0.13") as ws:
            visitor = JsonSocket(ws)
            await visitor.until("hello")
            errors = []
            await visitor.send({"type": "message", "client_id": "big", "text": "长" * 700_000})
            errors.append(await visitor.until("error"))
            await ws.send(b"\0" * (3 << 20))
            errors.append(await visitor.until("error"))
            await visitor.send({"type": "message", "client_id": "q-2", "text": "return policy"})
            return errors, await visitor.until("done", timeout=30)

    errors, done = _run(oversized())
    assert [e["code"] for e in errors] == ["too_long", "binary_not_supported"]
    assert done["message"]["text"]


async def _three_processes(shape: ProductionShape, cookie: str) -> dict[str, Any]:
    a, b, c = shape.daphnes
    async with (
        ws_connect(a, "/ws/chat/", source="127.0.0.12") as visitor_ws,
        ws_connect(b, "/ws/console/", cookie) as agent_ws,
    ):
        visitor, agent = JsonSocket(visitor_ws), JsonSocket(agent_ws)
        hello = await visitor.until("hello")
        conversation, token = hello["conversation"], hello["token"]
        await agent.until("hello")
        # FAQ questions only: a question no FAQ answers would reach the model, which is down
        # here, and a conversation is handed to a person when no model can answer.
        await visitor.send({"type": "message", "client_id": "v-first", "text": "return policy"})
        await visitor.until("done", timeout=30)
        query = f"/ws/chat/?conversation={conversation}&token={token}"
        async with ws_connect(c, query, source="127.0.0.12") as tab_ws:
            tab = JsonSocket(tab_ws)
            assert (await tab.until("hello"))["conversation"] == conversation
            # A bot answer streamed on A reaches the tab on C.
            await visitor.send(
                {"type": "message", "client_id": "v-faq", "text": "How long does shipping take?"}
            )
            answered = await visitor.until("done", timeout=30)
            seen_by_tab = await tab.until("done", timeout=30)
            tab_stream = [f for f in tab.seen if f["type"] in ("message", "token", "done")]

            await visitor.send({"type": "handoff"})
            await visitor.until("handoff")
            await agent.send({"type": "open", "conversation": conversation})
            await agent.until("transcript")
            await agent.send({"type": "claim", "conversation": conversation})
            await agent.until("claimed")
            for socket in (visitor, tab):
                await socket.until(lambda f: f["type"] == "conversation" and f["status"] == "agent")
            tab.seen.clear()
            visitor.seen.clear()

            # Turn by turn across processes: agent on B, visitor on A, tab on C.
            for turn in range(4):
                await agent.send(
                    {
                        "type": "send",
                        "conversation": conversation,
                        "client_id": f"a-{turn}",
                        "text": f"agent {turn}",
                    }
                )
                await visitor.until(
                    lambda f, turn=turn: (
                        f["type"] == "message" and f["message"]["text"] == f"agent {turn}"
                    )
                )
                await visitor.send(
                    {"type": "message", "client_id": f"v-{turn}", "text": f"visitor {turn}"}
                )
                await agent.until(
                    lambda f: f["type"] == "message" and f["message"]["role"] == "visitor"
                )
            # A burst from the agent: nobody waits between sends.
            for n in range(10):
                await agent.send(
                    {
                        "type": "send",
                        "conversation": conversation,
                        "client_id": f"burst-{n}",
                        "text": f"burst {n}",
                    }
                )
            last = "burst 9"
            for socket in (visitor, tab):
                await socket.until(
                    lambda f: f["type"] == "message" and f["message"]["text"] == last, timeout=20
                )
    return {
        "answered": answered,
        "seen_by_tab": seen_by_tab,
        "tab_stream": tab_stream,
        "visitor": _texts(visitor, ("agent",)),
        "tab": _texts(tab, ("agent", "visitor")),
        "agent": _texts(agent, ("visitor",)),
    }


def _texts(socket: JsonSocket, roles: tuple[str, ...]) -> list[str]:
    """The texts of the `message` frames a socket got from these roles, in order."""
    return [
        f["message"]["text"]
        for f in socket.seen
        if f["type"] == "message" and f["message"]["role"] in roles
    ]


def test_every_frame_reaches_visitor_agent_and_tab_on_three_processes_in_order(shape):
    cookie = login_cookie(shape.url, AGENT, PASSWORD)
    out = _run(_three_processes(shape, cookie))

    # The tab on C saw the question asked on A, then the answer's tokens, then its `done`.
    assert out["seen_by_tab"]["message"] == out["answered"]["message"]
    kinds = [f["type"] for f in out["tab_stream"]]
    question = next(f for f in out["tab_stream"] if f["type"] == "message")
    assert question["message"]["text"] == "How long does shipping take?"
    assert kinds.index("message") < kinds.index("token") < kinds.index("done")

    turns = [text for n in range(4) for text in (f"agent {n}", f"visitor {n}")]
    burst = [f"burst {n}" for n in range(10)]
    # The visitor's socket gets the agent's messages (its own are acked, not echoed).
    assert out["visitor"] == [t for t in turns if t.startswith("agent")] + burst
    # The second tab gets both sides, in the order they were written.
    assert out["tab"] == turns + burst
    assert out["agent"][-4:] == [f"visitor {n}" for n in range(4)]


async def _connects(url: str, source: str, headers: dict[str, str] | None = None) -> str:
    """`hello`, or the error code of a refused connect."""
    async with ws_connect(url, "/ws/chat/", source=source, headers=headers) as ws:
        frame = await JsonSocket(ws).until(lambda f: f["type"] in ("hello", "error"))
        return frame["type"] if frame["type"] == "hello" else frame["code"]


def test_django_takes_address_scheme_and_host_from_nginx_only(shape):
    url = shape.url

    async def addresses() -> list[str]:
        spoof_other = {"X-Forwarded-For": "203.0.113.7"}
        first = [await _connects(url, "127.0.0.21") for _ in range(2)]
        return [
            *first,
            await _connects(url, "127.0.0.21"),  # its burst is spent
            # Claiming another address in X-Forwarded-For does not escape the limit...
            await _connects(url, "127.0.0.21", spoof_other),
            # ...and claiming the limited one does not spend another's.
            await _connects(url, "127.0.0.22", {"X-Forwarded-For": "127.0.0.21"}),
        ]

    assert _run(addresses()) == [
        "hello",
        "hello",
        "too_many_requests",
        "too_many_requests",
        "hello",
    ]
    # The refused sockets closed (4429) with FIN: autobahn's RST made nginx log each one as an
    # error ("recv() failed (104: Connection reset by peer) while proxying upgraded connection").
    nginx_errors = (shape.layout.nginx_dir / "error.log").read_text(errors="replace")
    assert "reset by peer" not in nginx_errors, nginx_errors[-2000:]

    # The scheme: nginx overwrites X-Forwarded-Proto, so a plain-HTTP client claiming https
    # is still plain HTTP to Django: the console's socket takes only its exact origin.
    cookie = login_cookie(url, AGENT, PASSWORD)

    async def console(origin: str, headers: dict[str, str] | None = None) -> str | int:
        try:
            socket = ws_connect(url, "/ws/console/", cookie, origin=origin, headers=headers)
            async with socket as ws:
                return (await JsonSocket(ws).until("hello"))["type"]
        except websockets.InvalidStatus as refused:
            return refused.response.status_code

    https_origin = url.replace("http://", "https://")
    assert _run(console(url)) == "hello"
    assert _run(console(https_origin, {"X-Forwarded-Proto": "https"})) == 403

    # The host: nginx overwrites X-Forwarded-Host with the Host the client asked for, which
    # Django (USE_X_FORWARDED_HOST) then checks against ALLOWED_HOSTS (on any page but the
    # probes, which answer whatever Host a load balancer asks with).
    page = url + "/widget/greeting?path=/"
    ok = httpx.get(page, headers={"X-Forwarded-Host": "evil.example"})
    assert ok.status_code == 200
    refused = httpx.get(page, headers={"Host": "evil.example"})
    assert refused.status_code == 400
    assert httpx.get(url + "/healthz", headers={"Host": "10.0.0.5:8000"}).status_code == 200


def test_web_processes_embed_on_one_thread_and_the_worker_on_the_default(shape):
    """docs/deploy.md, "One embedding thread per web process"."""
    ports = {int(url.rsplit(":", 1)[1]) for url in shape.daphnes}
    threads: dict[str, list[str | None]] = {"daphne": [], "worker": []}
    for process in psutil.process_iter(["cmdline", "environ"]):
        cmdline, environ = process.info["cmdline"] or [], process.info["environ"] or {}
        if environ.get("DATABASE_URL") != shape.env["DATABASE_URL"]:
            continue  # another shape's, or not the app's
        if (
            "chatbot.ops.daphne_server" in cmdline
            and int(cmdline[cmdline.index("-p") + 1]) in ports
        ):
            threads["daphne"].append(environ.get("EMBEDDING_THREADS"))
        elif "celeryd: " in " ".join(cmdline) and ":MainProcess]" in " ".join(cmdline):
            # The worker names itself (setproctitle): "[celeryd: celery@host:MainProcess] …".
            threads["worker"].append(environ.get("EMBEDDING_THREADS"))
    assert threads["daphne"] == ["1"] * len(ports)
    assert threads["worker"] and "1" not in threads["worker"]
