"""Per-process copies after a content change (knowledge.process_copy): a slow copy loads its
successor on a thread of its own while it keeps serving, one loader at a time, ending at the
newest version; a quick one, or one that must apply at once, loads in the caller."""

import sys
import threading
import time

import pytest

from knowledge import process_copy
from knowledge.process_copy import VersionedCopy

WAIT_S = 10


class Copy(VersionedCopy):
    """Loads the newest version there is, after `gate` opens when one is set; records which
    thread loaded and how many loads ran at once."""

    loads_behind = True

    def __init__(self, versions: list[int]) -> None:
        super().__init__()
        self.versions = versions
        self.loaded: list[tuple[int, str]] = []
        self.serving: int | None = None
        self.gate: threading.Event | None = None
        self.fail = False
        self.running = 0
        self.most_at_once = 0
        self.intervals: list[float] = []

    def _load(self) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            if self.gate is not None:
                assert self.gate.wait(WAIT_S)
            if self.fail:
                raise RuntimeError("database gone")
            version = self.versions[-1]
            self.loaded.append((version, threading.current_thread().name))
            self.intervals.append(sys.getswitchinterval())
            self.serving = version
        finally:
            self.running -= 1


@pytest.fixture
def versions(monkeypatch) -> list[int]:
    current = [1]
    monkeypatch.setattr(process_copy, "knowledge_version_readable", lambda: current[-1])
    return current


def settled(copy: Copy) -> None:
    deadline = time.monotonic() + WAIT_S
    while copy.stale or copy._loading_behind.locked():
        assert time.monotonic() < deadline, "the background load never finished"
        time.sleep(0.01)


def test_a_slow_copy_keeps_serving_while_its_successor_loads(versions, settings):
    settings.KNOWLEDGE_COPY_BACKGROUND_LOAD_MS = 0
    copy = Copy(versions)
    copy.refresh()
    assert (copy.serving, copy.stale) == (1, False), "the first copy loads in the caller"

    copy.gate = threading.Event()
    versions.append(2)
    copy.refresh()
    assert copy.serving == 1 and copy.stale, "the caller did not wait for the load"
    versions.append(3)
    copy.refresh()
    copy.refresh()
    copy.gate.set()
    settled(copy)

    assert copy.serving == 3, "the loader ends at the newest version seen"
    behind = {thread for _, thread in copy.loaded[1:]}
    assert behind == {"Copy-load"} and copy.most_at_once == 1
    assert len(copy.loaded) <= 3, "refreshes during a load start no load of their own"
    interval = process_copy.SWITCH_INTERVAL_WHILE_LOADING_S
    assert copy.intervals[0] != interval and set(copy.intervals[1:]) == {interval}
    assert sys.getswitchinterval() == copy.intervals[0], "restored once the loader is done"


def test_a_quick_copy_loads_in_the_caller(versions, settings):
    settings.KNOWLEDGE_COPY_BACKGROUND_LOAD_MS = 60_000
    copy = Copy(versions)
    copy.refresh()
    versions.append(2)
    copy.refresh()
    assert (copy.serving, copy.stale) == (2, False)
    assert copy.loaded[-1][1] == threading.current_thread().name


def test_rules_that_must_apply_at_once_never_load_behind(versions, settings):
    settings.KNOWLEDGE_COPY_BACKGROUND_LOAD_MS = 0
    copy = Copy(versions)
    copy.loads_behind = False
    copy.refresh()
    versions.append(2)
    copy.refresh()
    assert (copy.serving, copy.stale) == (2, False)


def test_a_failed_background_load_leaves_the_old_copy_and_is_tried_again(versions, settings):
    settings.KNOWLEDGE_COPY_BACKGROUND_LOAD_MS = 0
    copy = Copy(versions)
    copy.refresh()
    copy.fail = True
    versions.append(2)
    copy.refresh()
    deadline = time.monotonic() + WAIT_S
    while copy._loading_behind.locked():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert copy.serving == 1 and copy.stale

    copy.fail = False
    copy.refresh()
    settled(copy)
    assert copy.serving == 2


class LoopingCopy(VersionedCopy):
    """Loads through `pausing` loops, a plain one and a library's over a PausingList."""

    loads_behind = True

    def __init__(self) -> None:
        super().__init__()
        self.items: list[int] = []

    def _load(self) -> None:
        self.items = [i for i in process_copy.pausing(range(3))]
        self.items += list(iter(process_copy.PausingList([3, 4])))


def test_a_background_load_steps_aside_between_items_and_a_load_in_the_caller_does_not(
    versions, settings, monkeypatch
):
    settings.KNOWLEDGE_COPY_BACKGROUND_LOAD_MS = 0
    monkeypatch.setattr(process_copy, "LOAD_WORK_S", 0.0)  # every item is past the deadline
    real_sleep = time.sleep
    pauses: list[tuple[str, float]] = []

    def recorded(seconds: float) -> None:
        pauses.append((threading.current_thread().name, seconds))
        real_sleep(seconds)

    monkeypatch.setattr(process_copy.time, "sleep", recorded)
    copy = LoopingCopy()
    copy.refresh()
    assert copy.items == [0, 1, 2, 3, 4] and pauses == [], "the caller's load never pauses"

    versions.append(2)
    copy.refresh()
    settled(copy)
    by_loader = [seconds for thread, seconds in pauses if thread == "LoopingCopy-load"]
    assert by_loader == [process_copy.LOAD_PAUSE_S] * 5, "one pause per item, both loops"
    assert copy.items == [0, 1, 2, 3, 4]
    before = len(pauses)
    assert list(process_copy.pausing(range(2))) == [0, 1]
    assert pauses[before:] == [], "no pause once the load is over"
