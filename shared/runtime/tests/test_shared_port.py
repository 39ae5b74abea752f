"""Replicas of a service on one API port (``<SERVICE>_HTTP_REUSE_PORT``): each binds its own
socket on the port, and the kernel spreads new connections among those listening."""

from __future__ import annotations

import select
import socket

import pytest

from cites_runtime.cli import shared_port


def test_two_replicas_listen_on_one_port_and_both_are_given_connections() -> None:
    first = shared_port("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = shared_port("127.0.0.1", port)
    clients = []
    try:
        for sock in (first, second):
            sock.listen(128)
            sock.setblocking(False)
        clients = [socket.create_connection(("127.0.0.1", port), timeout=5)
                   for _ in range(64)]
        accepted = {first: 0, second: 0}
        while sum(accepted.values()) < len(clients):
            ready, _, _ = select.select([first, second], [], [], 5)
            assert ready, f"connections not accepted: {accepted}"
            for sock in ready:
                sock.accept()[0].close()
                accepted[sock] += 1
    finally:
        for s in (first, second, *clients):
            s.close()

    assert accepted[first] > 0 and accepted[second] > 0, accepted


def test_a_process_not_sharing_the_port_is_refused_it() -> None:
    """Only sockets that all ask to share a port get it: a platform given the same ports
    as another by mistake still fails to start (unless both share)."""
    shared = shared_port("127.0.0.1", 0)
    try:
        with socket.socket() as plain, pytest.raises(OSError):
            plain.bind(("127.0.0.1", shared.getsockname()[1]))
    finally:
        shared.close()
