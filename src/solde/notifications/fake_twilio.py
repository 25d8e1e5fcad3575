"""A local fake of the Twilio REST and webhook subset Solde uses, for the demo and the tests.

`solde fake-sms --port 8020` serves it; tests start it in a thread on a free port. The official
`twilio` SDK talks to it unchanged (only its API base URL points here).

- `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP basic auth (AccountSid, auth
  token), form fields To, From, Body, StatusCallback: answers 201 with the message resource
  (`sid` SM…, `status` "queued"), or Twilio's error JSON (20003 authentication, 21211 invalid
  To, 21602 missing Body, 21604 missing From, 21617 Body too long).
- Then, like Twilio, it POSTs the StatusCallback twice — `sent`, then `delivered` (or
  `undelivered` with ErrorCode 30003 for a number in `unreachable`) — form encoded and signed
  with X-Twilio-Signature (HMAC-SHA1 of URL + sorted params with the auth token, computed by
  the SDK's own RequestValidator).
- `GET /2010-04-01/Accounts/{AccountSid}/Messages.json[?To=…]`: the messages, newest first.
- `place_call(voice_url, caller, digits)`: a caller dialling in: POSTs the signed voice webhook
  as Twilio does, follows <Gather> (sending the keyed Digits) and <Redirect>, returns what was
  said. Nothing is persisted: the state lives in memory.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urljoin, urlparse

import requests
from twilio.request_validator import RequestValidator

API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
SENDER_ID = re.compile(r"^[A-Za-z0-9 ]{1,11}$")  # alphanumeric sender IDs are allowed in Belgium
MAX_BODY = 1600
CALLBACK_DELAY = 0.05  # seconds between the API answer and each status callback
MAX_CALL_STEPS = 10


def _error(status: int, code: int, message: str) -> tuple[int, dict]:
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@dataclass
class Said:
    """One <Say> heard by the caller."""

    language: str
    text: str


class FakeTwilio(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, account_sid: str, auth_token: str, host: str = "127.0.0.1", port: int = 0):
        super().__init__((host, port), _Handler)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict] = []
        # (url, MessageStatus, HTTP status Solde answered or None when unreachable)
        self.callbacks: list[tuple[str, str, int | None]] = []
        self.unreachable: set[str] = set()  # numbers whose messages end "undelivered"
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeTwilio:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    # --- webhooks, as Twilio sends them ---------------------------------------------------

    def sign(self, url: str, params: dict[str, str]) -> str:
        return RequestValidator(self.auth_token).compute_signature(url, params)

    def post_signed(self, url: str, params: dict[str, str]) -> requests.Response:
        return requests.post(
            url,
            data=params,
            headers={"X-Twilio-Signature": self.sign(url, params)},
            timeout=10,
            allow_redirects=False,
        )

    def _status_callbacks(self, message: dict, url: str) -> None:
        final = "undelivered" if message["to"] in self.unreachable else "delivered"
        for status in ("sent", final):
            time.sleep(CALLBACK_DELAY)
            with self.lock:
                message["status"] = status
                if status == "undelivered":
                    message["error_code"] = 30003
            params = {
                "AccountSid": self.account_sid,
                "ApiVersion": API_VERSION,
                "From": message["from"],
                "MessageSid": message["sid"],
                "MessageStatus": status,
                "SmsSid": message["sid"],
                "SmsStatus": status,
                "To": message["to"],
            }
            if status == "undelivered":
                params["ErrorCode"] = "30003"
            try:
                answered: int | None = self.post_signed(url, params).status_code
            except requests.RequestException:
                answered = None
            with self.lock:
                self.callbacks.append((url, status, answered))

    def place_call(
        self, voice_url: str, caller: str, digits: list[str], to: str = "+3278000000"
    ) -> list[Said]:
        """A call to `to` from `caller`: POST the voice webhook, then follow the TwiML; each
        <Gather> is answered with the next entry of `digits` (or nothing when none is left)."""
        call = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": "CA" + secrets.token_hex(16),
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "From": caller,
            "To": to,
        }
        said: list[Said] = []
        keyed = list(digits)
        url, params = voice_url, dict(call)
        for _step in range(MAX_CALL_STEPS):
            resp = self.post_signed(url, params)
            if resp.status_code != 200:
                raise RuntimeError(f"voice webhook {url} answered {resp.status_code}")
            next_url = None
            for verb in ET.fromstring(resp.content):
                if verb.tag == "Say":
                    said.append(Said(verb.get("language", ""), verb.text or ""))
                elif verb.tag == "Gather":
                    said += [Said(s.get("language", ""), s.text or "") for s in verb.iter("Say")]
                    if keyed:
                        next_url = urljoin(url, verb.get("action") or url)
                        params = dict(call, Digits=keyed.pop(0))
                        break
                elif verb.tag == "Redirect":
                    next_url, params = urljoin(url, verb.text or url), dict(call)
                    break
                elif verb.tag == "Hangup":
                    return said
            if next_url is None:
                return said  # the document ended: Twilio hangs up
            url = next_url
        raise RuntimeError(f"the call did not end after {MAX_CALL_STEPS} webhook requests")


class _Handler(BaseHTTPRequestHandler):
    server: FakeTwilio

    def log_message(self, *args) -> None:
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _account(self) -> tuple[int, dict] | None:
        """Twilio's checks: basic auth with the account's SID and token, the URL's account."""
        fake = self.server
        auth = self.headers.get("Authorization", "")
        try:
            user, _, password = (
                base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
            )
        except (ValueError, UnicodeDecodeError):
            user = password = ""
        if not (
            auth.startswith("Basic ")
            and hmac.compare_digest(user, fake.account_sid)
            and hmac.compare_digest(password, fake.auth_token)
        ):
            return _error(401, 20003, "Authenticate")
        path = urlparse(self.path).path
        if path != f"/{API_VERSION}/Accounts/{fake.account_sid}/Messages.json":
            return _error(404, 20404, f"The requested resource {path} was not found")
        return None

    def do_GET(self) -> None:  # noqa: N802
        if refused := self._account():
            return self._reply(*refused)
        to = parse_qs(urlparse(self.path).query).get("To", [None])[0]
        with self.server.lock:
            found = [dict(m) for m in reversed(self.server.messages) if to in (None, m["to"])]
        self._reply(200, {"messages": found, "page": 0, "page_size": 50})

    def do_POST(self) -> None:  # noqa: N802
        if refused := self._account():
            return self._reply(*refused)
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not E164.match(to):
            return self._reply(*_error(400, 21211, f"The 'To' number {to} is not valid."))
        if not sender:
            return self._reply(*_error(400, 21604, "A 'From' phone number is required."))
        if not (E164.match(sender) or SENDER_ID.match(sender)):
            return self._reply(*_error(400, 21212, f"The 'From' number {sender} is not valid."))
        if not body:
            return self._reply(*_error(400, 21602, "Message body is required."))
        if len(body) > MAX_BODY:
            return self._reply(*_error(400, 21617, "The concatenated message body is too long."))
        fake = self.server
        sid = "SM" + secrets.token_hex(16)
        message = {
            "sid": sid,
            "account_sid": fake.account_sid,
            "api_version": API_VERSION,
            "to": to,
            "from": sender,
            "body": body,
            "status": "queued",
            "direction": "outbound-api",
            "num_segments": str(max(1, -(-len(body) // 153))),
            "date_created": formatdate(usegmt=True),
            "error_code": None,
            "error_message": None,
            "price": None,
            "price_unit": "EUR",
            "uri": f"/{API_VERSION}/Accounts/{fake.account_sid}/Messages/{sid}.json",
        }
        with fake.lock:
            fake.messages.append(message)
            answer = dict(message)
        self._reply(201, answer)
        if callback := form.get("StatusCallback"):
            threading.Thread(
                target=fake._status_callbacks, args=(message, callback), daemon=True
            ).start()
