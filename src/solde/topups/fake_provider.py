"""A local fake of the Mollie v2 API subset Solde uses, for the demo and the tests.

`solde fake-provider --port 8010` serves it; tests start it in a thread on a free port.

- `POST /v2/payments`, `GET /v2/payments/{id}`, `POST /v2/payments/{id}/refunds`,
  `POST /v2/customers`, `GET /v2/customers/{id}/mandates` — JSON as Mollie answers it.
- `GET /checkout/{id}`: the hosted checkout page where the payer chooses paid / failed /
  canceled / expired; the choice POSTs `id=tr_…` to the payment's webhookUrl (form encoded,
  like Mollie) and redirects to its redirectUrl.
- `POST /_fake/payments/{id}` (JSON `{"status": "paid", "webhook": false, "chargeback": "5.00"}`):
  test control, e.g. a payment paid whose webhook is lost.
Nothing is persisted: the state lives in memory.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import requests

FINAL = {"paid", "failed", "canceled", "expired"}
CHOICES = ("paid", "failed", "canceled", "expired")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _cents(value: str) -> int:
    euros, _, cents = value.partition(".")
    return int(euros) * 100 + int((cents + "00")[:2])


def _eur(cents: int) -> dict:
    return {"currency": "EUR", "value": f"{cents // 100}.{cents % 100:02d}"}


class FakeProviderServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int]):
        super().__init__(address, _Handler)
        self.payments: dict[str, dict] = {}
        self.customers: dict[str, dict] = {}
        self.mandates: dict[str, list[dict]] = {}
        self.webhook_calls: list[tuple[str, str, int | None]] = []
        self.down = False  # tests: answer 503 to every API call
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- state changes -------------------------------------------------------------------
    def create_payment(self, data: dict) -> dict:
        amount = data.get("amount") or {}
        if amount.get("currency") != "EUR" or not re.fullmatch(
            r"\d+\.\d{2}", str(amount.get("value", ""))
        ):
            raise ValueError("amount: give {'currency': 'EUR', 'value': '10.00'}")
        for field in ("description", "redirectUrl"):
            if not data.get(field):
                raise ValueError(f"{field}: required")
        pid = "tr_" + secrets.token_hex(5)
        payment = {
            "resource": "payment",
            "id": pid,
            "mode": "test",
            "createdAt": _now(),
            "amount": amount,
            "description": data["description"],
            "method": data.get("method"),
            "metadata": data.get("metadata"),
            "status": "open",
            "isCancelable": False,
            "expiresAt": (datetime.now(UTC) + timedelta(minutes=15)).isoformat(),
            "profileId": "pfl_fake",
            "sequenceType": data.get("sequenceType", "oneoff"),
            "redirectUrl": data["redirectUrl"],
            "webhookUrl": data.get("webhookUrl"),
            "customerId": data.get("customerId"),
            "_links": {
                "self": {"href": f"{self.url}/v2/payments/{pid}", "type": "application/hal+json"},
                "checkout": {"href": f"{self.url}/checkout/{pid}", "type": "text/html"},
            },
        }
        with self.lock:
            self.payments[pid] = payment
        return payment

    def set_status(self, pid: str, status: str) -> dict:
        with self.lock:
            p = self.payments[pid]
            if p["status"] not in FINAL:
                p["status"] = status
                p[f"{status}At"] = _now()
                if status == "paid":
                    p["amountRefunded"] = _eur(0)
                    p["amountRemaining"] = p["amount"]
                    p["method"] = p["method"] or "bancontact"
                    if p.get("customerId") and p.get("sequenceType") == "first":
                        self.mandates.setdefault(p["customerId"], []).append(
                            {
                                "resource": "mandate",
                                "id": "mdt_" + secrets.token_hex(5),
                                "status": "valid",
                                "method": "directdebit",
                            }
                        )
            return dict(p)

    def refund(self, pid: str, cents: int) -> dict:
        with self.lock:
            p = self.payments[pid]
            total = _cents(p["amount"]["value"])
            done = _cents((p.get("amountRefunded") or _eur(0))["value"])
            if p["status"] != "paid" or done + cents > total:
                raise ValueError("amount: more than what can be refunded")
            p["amountRefunded"] = _eur(done + cents)
            p["amountRemaining"] = _eur(total - done - cents)
            return {
                "resource": "refund",
                "id": "re_" + secrets.token_hex(5),
                "amount": _eur(cents),
                "status": "pending",
                "paymentId": pid,
            }

    def chargeback(self, pid: str, cents: int) -> None:
        with self.lock:
            self.payments[pid]["amountChargedBack"] = _eur(cents)

    def call_webhook(self, pid: str) -> int | None:
        url = self.payments[pid].get("webhookUrl")
        if not url:
            return None
        try:
            status: int | None = requests.post(url, data={"id": pid}, timeout=10).status_code
        except requests.RequestException:
            status = None
        self.webhook_calls.append((pid, url, status))
        return status


class _Handler(BaseHTTPRequestHandler):
    server: FakeProviderServer

    def log_message(self, format, *args):  # quiet
        pass

    def _send(self, status: int, body: dict | str, content_type: str = "application/hal+json"):
        raw = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, status: int, title: str, detail: str):
        self._send(status, {"status": status, "title": title, "detail": detail})

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _api_ok(self) -> bool:
        if self.server.down:
            self._error(503, "Service Unavailable", "The fake provider is down.")
            return False
        auth = self.headers.get("Authorization", "")
        if not re.fullmatch(r"Bearer (test|live)_\w+", auth):
            self._error(401, "Unauthorized Request", "Missing authentication, or failed.")
            return False
        return True

    def do_GET(self):
        path = urlparse(self.path).path
        if m := re.fullmatch(r"/v2/payments/(tr_\w+)", path):
            if not self._api_ok():
                return
            p = self.server.payments.get(m[1])
            if p is None:
                return self._error(404, "Not Found", f"No payment exists with token {m[1]}.")
            return self._send(200, p)
        if m := re.fullmatch(r"/v2/customers/(cst_\w+)/mandates", path):
            if not self._api_ok():
                return
            items = self.server.mandates.get(m[1], [])
            return self._send(
                200, {"count": len(items), "_embedded": {"mandates": items}, "_links": {}}
            )
        if m := re.fullmatch(r"/checkout/(tr_\w+)", path):
            p = self.server.payments.get(m[1])
            if p is None:
                return self._send(404, "<p>Unknown payment.</p>", "text/html")
            return self._send(200, _checkout_page(p), "text/html; charset=utf-8")
        return self._error(404, "Not Found", "Unknown path.")

    def do_POST(self):
        path = urlparse(self.path).path
        if path == "/v2/payments":
            if not self._api_ok():
                return
            try:
                return self._send(201, self.server.create_payment(json.loads(self._body())))
            except (ValueError, KeyError) as exc:
                return self._error(422, "Unprocessable Entity", str(exc))
        if m := re.fullmatch(r"/v2/payments/(tr_\w+)/refunds", path):
            if not self._api_ok():
                return
            if m[1] not in self.server.payments:
                return self._error(404, "Not Found", f"No payment exists with token {m[1]}.")
            data = json.loads(self._body())
            try:
                refund = self.server.refund(m[1], _cents(data["amount"]["value"]))
            except (ValueError, KeyError) as exc:
                return self._error(422, "Unprocessable Entity", str(exc))
            threading.Thread(target=self.server.call_webhook, args=(m[1],), daemon=True).start()
            return self._send(201, refund)
        if path == "/v2/customers":
            if not self._api_ok():
                return
            data = json.loads(self._body() or b"{}")
            cid = "cst_" + secrets.token_hex(5)
            customer = {
                "resource": "customer",
                "id": cid,
                "name": data.get("name"),
                "email": data.get("email"),
                "createdAt": _now(),
            }
            self.server.customers[cid] = customer
            return self._send(201, customer)
        if m := re.fullmatch(r"/checkout/(tr_\w+)", path):
            p = self.server.payments.get(m[1])
            choice = parse_qs(self._body().decode()).get("status", [""])[0]
            if p is None or choice not in CHOICES:
                return self._send(
                    400, "<p>Choose paid, failed, canceled or expired.</p>", "text/html"
                )
            self.server.set_status(m[1], choice)
            self.server.call_webhook(m[1])
            self.send_response(303)
            self.send_header("Location", p["redirectUrl"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if m := re.fullmatch(r"/_fake/payments/(tr_\w+)", path):
            if m[1] not in self.server.payments:
                return self._error(404, "Not Found", "Unknown payment.")
            data = json.loads(self._body() or b"{}")
            if data.get("status"):
                self.server.set_status(m[1], data["status"])
            if data.get("chargeback"):
                self.server.chargeback(m[1], _cents(data["chargeback"]))
            if data.get("webhook", True):
                self.server.call_webhook(m[1])
            return self._send(200, self.server.payments[m[1]])
        return self._error(404, "Not Found", "Unknown path.")


def _checkout_page(p: dict) -> str:
    buttons = "".join(
        f'<button name="status" value="{c}" type="submit">{c}</button> ' for c in CHOICES
    )
    done = p["status"] in FINAL
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Fake payment</title></head>"
        f"<body><h1>Fake payment provider</h1><p>{html.escape(p['description'])}</p>"
        f"<p>Amount: <strong>{p['amount']['value']} €</strong></p>"
        f"<p>Status: <span id='status'>{p['status']}</span></p>"
        + (
            f"<p><a href='{html.escape(p['redirectUrl'])}'>Back to the shop</a></p>"
            if done
            else f"<form method='post'>{buttons}</form>"
        )
        + "</body></html>"
    )


def start(port: int = 0, host: str = "127.0.0.1") -> FakeProviderServer:
    """Serve in a daemon thread (tests). `server.shutdown()` stops it."""
    server = FakeProviderServer((host, port))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
