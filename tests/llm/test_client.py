"""Streaming from an OpenAI-compatible server: pieces, usage and in-stream errors, against the
upstream simulator over real HTTP."""

import json
import os
import socket

import openai
import pytest

from chatbot.llm.client import StreamChunk, _event_data, stream_chat
from chatbot.llm.simulator import Faults, UpstreamSimulator
from chatbot.llm.tiers import Provider
from chatbot.ops.production import free_port

MESSAGES = [{"role": "user", "content": "Where is my parcel?"}]


@pytest.fixture
def sim(_simulator_server: UpstreamSimulator) -> UpstreamSimulator:
    _simulator_server.reset()
    return _simulator_server


def upstream_of(sim: UpstreamSimulator):
    [upstream] = Provider("sim", sim.base_url, "sim-model").upstreams()
    return upstream


async def collect(sim: UpstreamSimulator) -> list[StreamChunk]:
    return [chunk async for chunk in stream_chat(upstream_of(sim), MESSAGES)]


async def test_pieces_add_up_to_the_answer_and_usage_is_reported(sim):
    chunks = await collect(sim)
    text = "".join(c.text for c in chunks)
    assert text == "Thanks for asking. Here is what I know about: Where is my parcel?"
    assert sum(bool(c.text) for c in chunks) > 3, "streamed in pieces"
    [usage] = [c for c in chunks if c.completion_tokens is not None]
    assert usage.prompt_tokens > 0 and usage.completion_tokens == sum(bool(c.text) for c in chunks)


async def test_an_error_event_inside_the_stream_raises_the_sdks_error(sim):
    sim.faults = Faults(stream_error_rate=1.0, stream_error_status=429, seed=1)
    with pytest.raises(openai.APIError) as raised:
        await collect(sim)
    assert not isinstance(raised.value, openai.APIStatusError)
    assert raised.value.body == {"message": "simulated", "code": 429}


async def test_a_broken_chunk_raises(sim):
    sim.faults = Faults(malformed_after_tokens=2)
    with pytest.raises(json.JSONDecodeError):
        await collect(sim)


async def test_an_error_status_raises_the_sdks_status_error(sim):
    sim.faults = Faults(error_rate=1.0, error_status=503)
    with pytest.raises(openai.APIStatusError) as raised:
        await collect(sim)
    assert raised.value.status_code == 503


async def test_a_refused_connection_is_a_connection_error_not_a_timeout():
    port = free_port()  # nothing listens here
    [upstream] = Provider("down", f"http://127.0.0.1:{port}/v1", "m").upstreams()
    with pytest.raises(openai.APIConnectionError) as raised:
        [chunk async for chunk in stream_chat(upstream, MESSAGES)]
    assert not isinstance(raised.value, openai.APITimeoutError)


async def test_an_upstream_that_never_answers_times_out(sim):
    sim.faults = Faults(hang=True)
    [upstream] = Provider("sim", sim.base_url, "sim-model", total_timeout_s=0.3).upstreams()
    with pytest.raises(openai.APITimeoutError):
        [chunk async for chunk in stream_chat(upstream, MESSAGES)]


def tcp_nodelay_by_end(port: int) -> dict[str, list[bool]]:
    """TCP_NODELAY of this process's connections on `port`: the server's accepted sockets and
    the clients' sockets, read from the process's open descriptors (Linux)."""
    ends: dict[str, list[bool]] = {"server": [], "client": []}
    for fd in os.listdir("/proc/self/fd"):
        try:
            sock = socket.socket(fileno=os.dup(int(fd)))
        except OSError:
            continue  # not a socket (or already gone)
        with sock:
            if sock.family != socket.AF_INET or sock.type != socket.SOCK_STREAM:
                continue
            try:
                peer = sock.getpeername()
            except OSError:
                continue  # listening, not connected
            nodelay = bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            if sock.getsockname()[1] == port:
                ends["server"].append(nodelay)
            elif peer[1] == port:
                ends["client"].append(nodelay)
    return ends


async def test_both_ends_of_a_model_stream_send_small_writes_at_once():
    """With Nagle's algorithm on either end, a response's first chunk waited behind its headers
    for the other end's delayed ACK: 40 ms on every reused connection (docs/llm.md)."""
    sim = UpstreamSimulator().start()  # its own port: only this test's connection is on it
    try:
        stream = aiter(stream_chat(upstream_of(sim), MESSAGES))
        assert (await anext(stream)).text
        ends = tcp_nodelay_by_end(sim.port)
        await stream.aclose()
    finally:
        sim.stop()
    assert ends == {"server": [True], "client": [True]}


async def test_event_data_joins_lines_and_skips_comments_and_other_fields():
    async def lines():
        stream = [": keep-alive", "event: x", 'data: {"a":', "data: 1}", "", "", "data:[DONE]"]
        for line in stream:
            yield line

    assert [d async for d in _event_data(lines())] == ['{"a":\n1}', "[DONE]"]


async def test_closing_the_loops_clients_closes_their_pools_and_the_next_call_opens_anew(sim):
    from chatbot.llm.client import client_for, clients_close

    upstream = upstream_of(sim)
    await collect(sim)
    first = client_for(upstream)
    await clients_close()
    assert first.is_closed()
    assert "".join(c.text for c in await collect(sim)).endswith("Where is my parcel?")
    assert client_for(upstream) is not first
    assert sim.stats.requests == 2 and sim.stats.questions == ["Where is my parcel?"] * 2
