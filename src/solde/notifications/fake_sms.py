"""A fake SMS gateway for the demo and tests: `POST /messages` {to, text} is kept and listed at
`GET /messages`; `DELETE /messages` forgets them. Thread-safe, in memory."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeSmsGateway:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.received: list[dict] = []
        self._lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, body: object) -> None:
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                if self.path.rstrip("/") != "/messages":
                    return self._reply(404, {"error": "not_found"})
                with gateway._lock:
                    self._reply(200, list(gateway.received))

            def do_POST(self) -> None:  # noqa: N802
                if self.path.rstrip("/") != "/messages":
                    return self._reply(404, {"error": "not_found"})
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                    body = json.loads(self.rfile.read(length) or b"{}")
                    to, text = body["to"], body["text"]
                    if not isinstance(to, str) or not isinstance(text, str):
                        raise ValueError
                except (ValueError, KeyError, TypeError):
                    return self._reply(422, {"error": "invalid", "detail": "need {to, text}"})
                with gateway._lock:
                    gateway.received.append({"to": to, "text": text})
                    n = len(gateway.received)
                self._reply(201, {"id": n})

            def do_DELETE(self) -> None:  # noqa: N802
                with gateway._lock:
                    gateway.received.clear()
                self._reply(204, {})

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def start(self) -> FakeSmsGateway:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
