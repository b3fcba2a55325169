"""Tests never leave the machine: the guard in tests/conftest.py refuses any Python socket
connection to another address, and fails the test that tried."""

import socket

import pytest

from tests.conftest import OutboundConnection, _outbound


def test_a_connection_to_another_machine_is_refused_and_recorded():
    with pytest.raises(OutboundConnection):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1
    assert _outbound == [("192.0.2.1", 80)]
    _outbound.clear()  # on purpose here: the test must not fail for it


def test_this_machine_is_reachable():
    with socket.create_server(("127.0.0.1", 0)) as server:
        socket.create_connection(server.getsockname()).close()
