"""The embedded default's channel layer delivers like channels' in-memory layer, without
walking every channel of the process on each message."""

import asyncio

import pytest
from channels.exceptions import ChannelFull

from chatbot.embedded import channel_layer
from chatbot.embedded.channel_layer import InProcessChannelLayer


async def receive_all(layer: InProcessChannelLayer, channel: str) -> list[dict]:
    got = []
    while layer.channels.get(channel) is not None and not layer.channels[channel].empty():
        got.append(await layer.receive(channel))
    return got


async def test_a_group_message_reaches_each_member_once_in_order():
    layer = InProcessChannelLayer()
    a, b, outsider = [await layer.new_channel() for _ in range(3)]
    for channel in (a, b):
        await layer.group_add("chat.x", channel)
    for n in range(3):
        await layer.group_send("chat.x", {"type": "chat.frame", "n": n})
    assert [m["n"] for m in await receive_all(layer, a)] == [0, 1, 2]
    assert [m["n"] for m in await receive_all(layer, b)] == [0, 1, 2]
    assert await receive_all(layer, outsider) == []


async def test_the_excluded_channel_is_left_out():
    layer = InProcessChannelLayer()
    sender, other_tab = [await layer.new_channel() for _ in range(2)]
    for channel in (sender, other_tab):
        await layer.group_add("chat.x", channel)
    await layer.group_send("chat.x", {"type": "chat.frame", "exclude": sender})
    assert await receive_all(layer, sender) == []
    assert [m["exclude"] for m in await receive_all(layer, other_tab)] == [sender]


async def test_members_get_copies_and_a_full_member_does_not_stop_the_others():
    layer = InProcessChannelLayer(capacity=1)
    full, free = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", full)
    await layer.group_add("g", free)
    await layer.send(full, {"type": "x", "n": "earlier"})
    with pytest.raises(ChannelFull):
        await layer.send(full, {"type": "x"})
    message = {"type": "x", "n": "group", "frame": {"text": "a"}}
    await layer.group_send("g", message)
    message["frame"]["text"] = "changed"
    assert [m["n"] for m in await receive_all(layer, full)] == ["earlier"]
    [received] = await receive_all(layer, free)
    assert received["frame"]["text"] == "a"


async def test_expired_messages_are_still_dropped_with_their_channel(monkeypatch):
    monkeypatch.setattr(channel_layer, "CLEAN_INTERVAL_S", 0.0)
    layer = InProcessChannelLayer(expiry=0.05)
    stale, fresh = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", stale)
    await layer.send(stale, {"type": "x"})
    await asyncio.sleep(0.1)
    await layer.group_add("g", fresh)
    await layer.group_send("g", {"type": "y"})
    assert stale not in layer.groups["g"], "an expired message drops its channel from groups"
    assert [m["type"] for m in await receive_all(layer, fresh)] == ["y"]


async def test_the_expiry_walk_runs_at_most_once_per_interval(monkeypatch):
    layer = InProcessChannelLayer()
    walks = []
    monkeypatch.setattr(
        channel_layer.InMemoryChannelLayer, "_clean_expired", lambda self: walks.append(1)
    )
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    for _ in range(50):
        await layer.group_send("g", {"type": "x"})
    assert len(walks) == 1
