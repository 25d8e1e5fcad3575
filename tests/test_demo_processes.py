"""`solde demo` (what `make demo` runs) starts the demo's process model from Procfile.demo with
honcho — the production web server, the worker, the head-end listener over a real MQTT broker,
the simulated meters and the fakes — on an embedded SQLite database, and prints logins a
newcomer can use at once."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


@pytest.mark.slow
def test_demo_serves_through_its_processes_and_the_printed_customer_login_works(tmp_path):
    if os.environ.get("SOLDE_DATABASE_URL", "").startswith("postgres"):
        pytest.skip("the demo runs on its embedded SQLite database: tested in the SQLite pass")
    port, mqtt = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOLDE_")}
    env.update(
        SOLDE_DATA_DIR=str(tmp_path / "var"),
        SOLDE_PAYMENT_PROVIDER_URL=f"http://127.0.0.1:{free_port()}",
        SOLDE_SMS_GATEWAY_URL=f"http://127.0.0.1:{free_port()}",
        SOLDE_SMTP_PORT=str(free_port()),
        SOLDE_WEB_WORKERS="2",
    )
    log = tmp_path / "demo.log"
    demo = subprocess.Popen(
        [str(BIN / "solde"), "demo", "--supply-points", "12", "--days", "2", "--meters", "5",
         "--port", str(port), "--mqtt-port", str(mqtt)],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    site = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return requests.get(f"{site}/login/", timeout=2).status_code == 200
        except requests.RequestException:
            return demo.poll() is not None  # stop waiting if the demo died

    try:
        assert wait_for(answers, 240), log.read_text()[-3000:]
        assert demo.poll() is None, log.read_text()[-3000:]
        output = log.read_text()
        assert "Starting granian" in output and "runserver" not in output

        logins = (tmp_path / "var" / "demo-logins.txt").read_text()
        line = next(x for x in logins.splitlines() if x.startswith("Portal:") and "/login/" in x)
        email, password = re.search(r"/login/\s+(\S+@\S+)\s+password (\S+)", line).groups()
        assert re.search(r"activation code PP[A-Z0-9]{8} \(EAN \d{18}\)", logins)
        assert f"{site}/login/" in output  # printed with the demo's own address

        browser = requests.Session()
        page = browser.get(f"{site}/login/", timeout=10)
        answer = browser.post(
            f"{site}/login/",
            data={
                "username": email,
                "password": password,
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
            headers={"Referer": f"{site}/login/"},
            timeout=20,
        )
        assert answer.status_code == 200 and "/login/" not in answer.url, answer.text[:500]

        # One operator per console role is printed; the agent signs in without a second
        # factor (the demo's opt-out) and is refused the dashboard, which its role lacks.
        operators = dict(
            re.findall(r"^Console: \S+/console/\s+user (\S+)\s+password (\S+)", logins, re.M)
        )
        assert set(operators) == {
            "agent.demo",
            "backoffice.demo",
            "superviseur.demo",
            "auditeur.demo",
        }
        assert f"{site}/console/" in output
        staff = requests.Session()
        staff.get(f"{site}/console/login/", timeout=10)
        answer = staff.post(
            f"{site}/console/login/",
            data={
                "username": "agent.demo",
                "password": operators["agent.demo"],
                "csrfmiddlewaretoken": staff.cookies["csrftoken"],
            },
            headers={"Referer": f"{site}/console/login/"},
            timeout=20,
        )
        assert answer.url == f"{site}/console/" and "agent.demo" in answer.text, answer.text[:500]
        assert staff.get(f"{site}/console/dashboard/", timeout=10).status_code == 403

        # Static files: hashed names in the page, served by whitenoise with a long cache life.
        css = re.search(r"/static/portal/portal\.[0-9a-f]{12}\.css", page.text)
        assert css, page.text[:1000]
        static = requests.get(site + css.group(0), timeout=10)
        assert static.status_code == 200 and "immutable" in static.headers["Cache-Control"]

        # The head-end listener and the meters talk over the demo's MQTT broker.
        assert wait_for(
            lambda: (
                f"headend.1 | Listening on mqtt://127.0.0.1:{mqtt}" in log.read_text()
                and "meters.1  | Simulating" in log.read_text()
            ),
            60,
        ), log.read_text()[-3000:]
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGTERM)
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(timeout=10)
    # Every process of the group ended with the demo.
    assert wait_for(lambda: not _group_alive(demo.pid), 20)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
