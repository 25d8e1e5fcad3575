"""`solde serve` keeps an idle connection open longer than a proxy would: a proxy or load
balancer in front reuses its idle connections for up to 60 s by default, and a request it sends
just as the server closes one is lost. gunicorn's own default was 2 s (the web benchmark's
IncompleteReadErrors)."""

from __future__ import annotations

import os
import socket
import time

import pytest

from tests.perf.bench_web import _free_port, start_server, stop_server

IDLE = 3  # seconds between two requests on one connection: past gunicorn's old 2 s


def _answer(conn: socket.socket) -> bytes:
    """One HTTP/1.1 response (headers and its Content-Length body); b"" if the server closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = conn.recv(4096)
        if not chunk:
            break
        body += chunk
    return head


@pytest.mark.parametrize("server", ["gunicorn", "granian"])
def test_a_connection_idle_for_seconds_still_answers(server, tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOLDE_")}
    env.update(
        SOLDE_DATA_DIR=str(tmp_path),
        SOLDE_SECRET_KEY="keep-alive-test",
        SOLDE_SIMULATION="1",  # plain HTTP on loopback
        SOLDE_DEBUG="0",
        SOLDE_HEADEND_URL="inprocess",
    )
    proc = start_server(env, server, port, tmp_path / "server.log")  # its default 2 threads
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(request)
            assert _answer(conn).startswith(b"HTTP/1.1 200")
            time.sleep(IDLE)
            conn.sendall(request)
            assert _answer(conn).startswith(b"HTTP/1.1 200"), "the idle connection was closed"
    finally:
        stop_server(proc)
