import inspect
import ipaddress
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis
from channels.testing import WebsocketCommunicator

from chatbot import answering
from chatbot.asgi import application
from chatbot.llm.client import clients_close
from chatbot.llm.simulator import UpstreamSimulator
from chatbot.ops import localmodel
from tests.servers import RedisServer, free_port

ORIGIN = [(b"origin", b"http://localhost")]


class OutboundConnection(RuntimeError):
    """A test tried to reach another machine: tests use local servers only."""


def _stays_on_this_machine(address: object) -> bool:
    if not isinstance(address, tuple):  # a Unix socket's path
        return True
    host = str(address[0]).split("%", 1)[0]
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False  # any other host name resolves to somewhere else
    return ip.is_loopback or ip.is_unspecified


_outbound: list[object] = []


@pytest.fixture(scope="session", autouse=True)
def _no_outbound_network() -> Iterator[None]:
    """Python sockets may connect to this machine only (as Zulip's tests do): a connection to
    any other address raises OutboundConnection, and the test that tried fails even if the code
    under test swallowed the error (chromium's own sockets are not Python's: not covered)."""
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guard(address: object) -> None:
        if not _stays_on_this_machine(address):
            _outbound.append(address)
            raise OutboundConnection(f"a test tried to connect to {address!r}")

    def guarded_connect(self: socket.socket, address: object) -> None:
        guard(address)
        return connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: object) -> int:
        guard(address)
        return connect_ex(self, address)

    socket.socket.connect, socket.socket.connect_ex = guarded_connect, guarded_connect_ex
    yield
    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex


@pytest.fixture(autouse=True)
def _fail_on_outbound_attempts(_no_outbound_network: None) -> Iterator[None]:
    _outbound.clear()
    yield
    if _outbound:
        pytest.fail(f"the test tried to leave the machine: {_outbound}")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory) -> None:
    """SQLite tests run on a file, as the app does, not in shared-cache memory: the answer
    pipeline reads and writes from more than one thread (chatbot.database_lanes), and shared-cache
    memory databases fail such access at once with "table is locked" instead of waiting."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(
            tmp_path_factory.mktemp("db") / "test.sqlite3"
        )


@pytest.fixture(scope="session", autouse=True)
def _lane_connections_closed_first(django_db_setup: None) -> Iterator[None]:
    """The database lanes and Channels' database thread keep their connections open; they are
    closed before the test database is dropped (a PostgreSQL database with sessions on it
    cannot be)."""
    from asgiref.sync import SyncToAsync
    from django.db import connections

    from chatbot.database_lanes import lanes_close_connections

    yield
    lanes_close_connections()
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture(scope="session")
def _simulator_server() -> UpstreamSimulator:
    sim = UpstreamSimulator().start()
    yield sim
    sim.stop()


@pytest.fixture
def upstream(_simulator_server: UpstreamSimulator, settings) -> UpstreamSimulator:
    """The OpenAI-compatible upstream simulator as the (only) model tier, faults cleared."""
    _simulator_server.reset()
    settings.LOCAL_LLM_BASE_URL = _simulator_server.base_url
    settings.LOCAL_LLM_MODEL = "sim-model"
    settings.OPENAI_API_KEY = ""
    return _simulator_server


@pytest.fixture
def upstream_down(settings) -> None:
    """No model reachable: a closed port refuses the connection at once."""
    settings.LOCAL_LLM_BASE_URL = "http://127.0.0.1:9/v1"
    settings.OPENAI_API_KEY = ""


class Socket:
    """A test websocket that speaks JSON frames."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.ws = communicator
        self.hello: dict[str, Any] = {}

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_to(text_data=json.dumps(frame))

    async def recv(self, timeout: float = 5) -> dict[str, Any]:
        return json.loads(await self.ws.receive_from(timeout=timeout))


class Client(Socket):
    """A visitor's socket with helpers to read frames."""

    async def recv_until(self, frame_type: str, timeout: float = 10) -> list[dict[str, Any]]:
        """Every frame up to and including the first of `frame_type`."""
        frames = []
        while True:
            frame = await self.recv(timeout)
            frames.append(frame)
            if frame["type"] == frame_type:
                return frames

    async def say(self, text: str, client_id: str) -> list[dict[str, Any]]:
        await self.send({"type": "message", "client_id": client_id, "text": text})
        return await self.recv_until("done")


@asynccontextmanager
async def chat_socket(
    query: str = "", *, headers: list[tuple[bytes, bytes]] | None = None
) -> AsyncIterator[Client]:
    communicator = WebsocketCommunicator(
        application, f"/ws/chat/{query}", headers=headers or ORIGIN
    )
    connected, _ = await communicator.connect()
    assert connected
    client = Client(communicator)
    try:
        client.hello = await client.recv()
        yield client
    finally:
        await communicator.disconnect()


@pytest.fixture
async def settle() -> AsyncIterator[None]:
    """Waits for answers still being written before the test's database goes away."""
    yield
    await answering.wait_for_running_answers()


@pytest.fixture
async def close_model_clients() -> AsyncIterator[None]:
    """Closes the model clients of the test's event loop: their pooled keep-alive connections
    would otherwise be reported unclosed when the loop is collected."""
    yield
    await clients_close()


@pytest.fixture(autouse=True)
def _fresh_shared_state() -> None:
    """Each test starts with empty caches and per-process indexes, as the database does."""
    from chatbot.cache.index import reset_index as reset_cache_index
    from chatbot.shared_state import reset_shared_state
    from chatbot.widget_config import proactive
    from knowledge.content_version import knowledge_version_forget
    from knowledge.documents.indexing import reset_chunk_index
    from knowledge.faq_word_store import reset_faq_word_store
    from knowledge.index import reset_index as reset_faq_index
    from knowledge.negative_store import reset_negative_store

    reset_shared_state()
    knowledge_version_forget()
    reset_faq_index()
    reset_cache_index()
    reset_chunk_index()
    reset_negative_store()
    reset_faq_word_store()
    proactive.forget()


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Each test starts in the site's default language: Django's LocaleMiddleware activates a
    request's language in the thread that served it and leaves it there, so a test client's
    Chinese request made the next module's English copy compare as Chinese."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(scope="session")
def local_model(tmp_path_factory) -> str:
    """The real llama.cpp server with SmolLM2-135M, proven by a real completion; yields its
    OpenAI-compatible base URL."""
    port = free_port()
    process = localmodel.start_server(
        host="127.0.0.1",
        port=port,
        model_alias="smollm2-135m-instruct",
        log_path=tmp_path_factory.mktemp("llm") / "server.log",
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        localmodel.wait_until_answering(
            base_url, "smollm2-135m-instruct", process=process, timeout_s=180
        )
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=20)


def pytest_collection_modifyitems(config, items) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running in the main thread
    for the whole session, which would break later tests that call asyncio.run(). Under
    pytest-xdist the order holds per process only with `--no-loadscope-reorder` (Makefile).

    Every async test closes its loop's model clients (`close_model_clients`); as an autouse
    fixture it would give sync tests an event loop too, which the browser tests refuse. It goes
    first, so it is torn down last: an answer still being written when the test ends runs on
    while other fixtures tear down (`settle` waits for it) and may open a client then, which
    was left unclosed ("Unclosed client session" at exit)."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
    postgres_pass = os.environ.get("CHATBOT_TEST_POSTGRES") == "1"
    for item in items:
        if postgres_pass and item.get_closest_marker("own_stack"):
            item.add_marker(pytest.mark.skip(reason="own servers on SQLite: run in the first pass"))
        if inspect.iscoroutinefunction(getattr(item, "function", None)):
            item.fixturenames.insert(0, "close_model_clients")


REDIS_URL = "redis://127.0.0.1:6379/0"  # the machine's Redis, shared with others


@pytest.fixture
def on_redis(settings) -> Iterator[redis.Redis]:
    """Shared state and router state in the machine's Redis, under a prefix of this test's own."""
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    client.ping()
    prefix = f"test-router-{uuid.uuid4().hex[:8]}"
    settings.REDIS_URL = REDIS_URL
    settings.ROUTER_STATE_PREFIX = prefix
    settings.SHARED_STATE_PREFIX = f"{prefix}:state"
    yield client
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


@pytest.fixture(params=["memory", "redis"])
def backend(request, settings) -> str:
    """Runs a test against both stores: the rules must be the same."""
    if request.param == "redis":
        request.getfixturevalue("on_redis")
    else:
        settings.REDIS_URL = ""
    return request.param


@pytest.fixture
def own_redis(settings) -> Iterator[RedisServer]:
    """Shared state and router state in a redis-server of this test's own (to stop or hang)."""
    server = RedisServer().start()
    settings.REDIS_URL = server.url
    settings.ROUTER_STATE_PREFIX = "test-router"
    settings.SHARED_STATE_PREFIX = "test-router:state"
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.resume()
            server.stop()


@pytest.fixture
def swap_embedder(monkeypatch):
    """Replaces the embedder of a locale (the default one when None) for this test."""
    from knowledge import embeddings

    def swap(embedder, locale: str | None = None) -> None:
        monkeypatch.setitem(embeddings._embedders, embeddings.backend_name(locale), embedder)

    return swap


def queued_question_store(text: str, locale: str = "en", citations: list | None = None) -> int:
    """A visitor question answered with the fallback's promise of a later answer, as when every
    model was down (stored as the fallback stores it, with `citations` when it suggested
    articles); returns the visitor message's id."""
    from chatbot import services
    from chatbot.models import Message
    from chatbot.pipeline.fallback_stage import QUEUED_FLAG

    conversation = services.conversation_start(locale=locale)
    visitor, _ = services.visitor_message_store(
        conversation=conversation, client_id="q1", text=text
    )
    services.bot_message_store(
        conversation_id=conversation.pk,
        reply_to_id=visitor.pk,
        text="I'll answer it here as soon as I can.",
        source="fallback",
        trace={"steps": [{"stage": "fallback", "detail": {QUEUED_FLAG: True}}]},
    )
    if citations:
        Message.objects.filter(reply_to=visitor).update(citations=citations)
    return visitor.pk


class FailingFirst:
    """`real`, raising `error` on its first `times` calls: a database restarting, in front of
    the real function (fault injection, not a fake)."""

    def __init__(self, real: Any, error: Exception, times: int = 1) -> None:
        self.real, self.error, self.left, self.failed = real, error, times, 0

    def __call__(self, **kwargs: Any) -> Any:
        if self.left > 0:
            self.left -= 1
            self.failed += 1
            raise self.error
        return self.real(**kwargs)
