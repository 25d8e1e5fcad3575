"""A small open-loop HTTP load generator (asyncio, HTTP/1.1, 127.0.0.1 only).

Request i is due at start + i / rate whatever happened to the earlier ones, and its latency is
measured from that scheduled time, not from when a connection became free: a server that falls
behind shows it as latency (no coordinated omission). Connections are kept alive when the
server allows it (granian, gunicorn's threaded workers) and opened anew otherwise (gunicorn's
sync workers close after each response); at most `max_connections` are open at once and a
request due while all are busy waits for one, its wait counted in its latency.
Bounded: `seconds` of schedule, then at most `timeout` seconds for the last answers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Request = tuple[str, str, dict[str, str], bytes | None]  # method, path, headers, body


@dataclass
class Result:
    rate: float
    seconds: float
    sent: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # connection errors, timeouts
    started_late_ms: float = 0.0  # the generator's own lag at the worst send (should be ~0)

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(p / 100 * len(data)))]

    @property
    def failures(self) -> int:
        bad = sum(n for s, n in self.statuses.items() if s >= 400)
        return bad + sum(self.errors.values())

    @property
    def achieved(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def summary(self) -> dict:
        return {
            "rate": self.rate,
            "sent": self.sent,
            "answered": len(self.latencies_ms),
            "p50": round(self.pct(50), 2),
            "p99": round(self.pct(99), 2),
            "max": round(max(self.latencies_ms, default=float("nan")), 2),
            "statuses": self.statuses,
            "errors": self.errors,
            "failures": self.failures,
            "generator_lag_ms": round(self.started_late_ms, 2),
        }


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def exchange(self, raw: bytes) -> tuple[int, bool, bytes]:
        """Send one request; returns (status, keep-alive?, body)."""
        self.writer.write(raw)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked()
        else:
            body = await self.reader.read()
            return status, False, body
        keep = headers.get("connection", "").lower() != "close" and lines[0].startswith("HTTP/1.1")
        return status, keep, body

    async def _chunked(self) -> bytes:
        out = b""
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return out
            out += await self.reader.readexactly(size)
            await self.reader.readexactly(2)

    def close(self) -> None:
        self.writer.close()


def _raw(host: str, port: int, req: Request) -> bytes:
    method, path, headers, body = req
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    for k, v in headers.items():
        lines.append(f"{k}: {v}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def _run(
    port: int,
    rate: float,
    seconds: float,
    make_request: Callable[[int], Request],
    check: Callable[[int, bytes], bool] | None,
    max_connections: int,
    timeout: float,
) -> Result:
    host = "127.0.0.1"  # never anything else
    result = Result(rate=rate, seconds=seconds)
    idle: list[_Conn] = []
    slots = asyncio.Semaphore(max_connections)
    total = int(rate * seconds)
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05

    async def one(i: int, due: float) -> None:
        raw = _raw(host, port, make_request(i))
        async with slots:
            conn = idle.pop() if idle else None
            try:
                if conn is None:
                    conn = _Conn(*await asyncio.open_connection(host, port))
                status, keep, body = await asyncio.wait_for(conn.exchange(raw), timeout)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as e:
                name = type(e).__name__
                result.errors[name] = result.errors.get(name, 0) + 1
                if conn is not None:
                    conn.close()
                return
            if keep:
                idle.append(conn)
            else:
                conn.close()
        latency = (loop.time() - due) * 1000
        if check is not None and status < 400 and not check(status, body):
            status = 599  # a wrong answer counts as an error
        result.statuses[status] = result.statuses.get(status, 0) + 1
        result.latencies_ms.append(latency)

    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            result.started_late_ms = max(result.started_late_ms, -delay * 1000)
        tasks.append(asyncio.ensure_future(one(i, due)))
        result.sent += 1
    done, pending = await asyncio.wait(tasks, timeout=timeout) if tasks else (set(), set())
    for t in pending:
        t.cancel()
    if pending:
        result.errors["unanswered"] = len(pending)
    for c in idle:
        c.close()
    return result


def run(
    port: int,
    rate: float,
    seconds: float,
    make_request: Callable[[int], Request],
    check: Callable[[int, bytes], bool] | None = None,
    max_connections: int = 256,
    timeout: float = 10.0,
) -> Result:
    """Send `rate` requests a second for `seconds` to 127.0.0.1:`port`; see the module doc."""
    return asyncio.run(_run(port, rate, seconds, make_request, check, max_connections, timeout))


def highest_rate(
    port: int,
    rates: list[float],
    seconds: float,
    make_request: Callable[[int], Request],
    p99_ms: float,
    check: Callable[[int, bytes], bool] | None = None,
    log: Callable[[str], None] = print,
    settle: Callable[[], None] = lambda: time.sleep(1),
) -> tuple[Result | None, list[Result]]:
    """Step through `rates` (ascending); the highest one held with p99 < `p99_ms` and no
    error, and every step's result. Stops at the second step that misses."""
    best, steps, misses = None, [], 0
    offset = 0
    for rate in rates:
        settle()  # a step that fell behind leaves queued requests: let the server drain them
        res = run(port, rate, seconds, lambda i, o=offset: make_request(o + i), check)
        offset += res.sent
        steps.append(res)
        log(f"   {rate:>6.0f}/s  {json.dumps(res.summary())}")
        if res.failures == 0 and res.pct(99) < p99_ms:
            best = res
            misses = 0
        else:
            misses += 1
            if misses == 2:
                break
    return best, steps
