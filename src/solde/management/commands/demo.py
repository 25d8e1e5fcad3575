"""`solde demo`: migrate the embedded database, seed demo data once, catch the scheduled work
up, print the logins, then run the demo's process model (Procfile.demo) with honcho: the
production processes (`solde serve`, the django-q2 worker, `solde headend listen`) plus a local
MQTT broker, the simulated meters and the fake providers. No server to install."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django_typer.management import TyperCommand

from solde import clock

PROCFILE = "Procfile.demo"
DEMO_MQTT_PORT = 18830  # not 1883: a Mosquitto on the machine keeps its port


def seeded_lookback() -> timedelta:
    """From the earliest activation to now, plus a day, so every seeded day is closed."""
    from django.db.models import Min

    from solde.prepayment.models import PrepaymentAccount

    first = PrepaymentAccount.objects.aggregate(m=Min("activated_at"))["m"]
    if first is None:
        return timedelta(days=1)
    return clock.now() - first + timedelta(days=1)


def procfile() -> Path:
    """Procfile.demo at the root of the source tree (`make demo` runs from there)."""
    for folder in (Path.cwd(), *Path(__file__).resolve().parents):
        if (folder / PROCFILE).is_file():
            return folder / PROCFILE
    raise CommandError(f"{PROCFILE} not found: run `make demo` from the Solde source tree.")


def write_logins() -> str:
    """The admin and API keys (made once: keys are shown once) and, fresh at every start, the
    console's demo operators (one per role), the customer portal login and a new activation
    code; kept in var/demo-logins.txt."""
    from solde.backoffice.demo import make_operator_logins
    from solde.demo.fleet import make_logins
    from solde.portal.demo import make_portal_logins

    path = settings.DATA_DIR / "demo-logins.txt"
    kept = path.read_text() if path.exists() else make_logins() + "\n"
    fresh = ("Portal:", "Console:")
    lines = [line for line in kept.splitlines() if not line.startswith(fresh)]
    text = "\n".join([*lines, make_operator_logins(), make_portal_logins()])
    path.write_text(text + "\n")
    path.chmod(0o600)
    return text


class Command(TyperCommand):
    help = "Run the demo: migrate, seed on first run, then the demo's processes (Procfile.demo)."

    def handle(
        self,
        port: Annotated[int, typer.Option(help="The port to serve on.")] = 8000,
        supply_points: Annotated[int, typer.Option(help="Fleet size on the first run.")] = 300,
        days: Annotated[int, typer.Option(help="Days of history on the first run.")] = 60,
        mqtt_port: Annotated[
            int, typer.Option(help="Port of the demo's MQTT broker (127.0.0.1).")
        ] = DEMO_MQTT_PORT,
        meters: Annotated[int, typer.Option(help="Simulated meters answering orders.")] = 50,
    ) -> None:
        from solde import schedule
        from solde.registry.models import SupplyPoint

        honcho = shutil.which("honcho", path=str(Path(sys.executable).parent))
        if honcho is None:
            raise CommandError("honcho is not installed: run `make venv`.")
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        self.stdout.write("Preparing the database…")
        call_command("migrate", verbosity=0)
        if not SupplyPoint.objects.exists():
            self.stdout.write(f"First run: seeding {supply_points} supply points, {days} days.")
            call_command("seed-demo", supply_points=supply_points, days=days)
        # The scheduled work due since the seeded history began (first run) or since the demo
        # last ran, before the worker's one-minute ticks take over.
        self.stdout.write("Catching up the scheduled work (daily closes, credit control…)")
        # Orders decided now wait for the head-end, which starts below: don't warn about them.
        orders_log = logging.getLogger("solde.orders.services")
        level = orders_log.level
        orders_log.setLevel(logging.ERROR)
        try:
            schedule.run_due(first_run_lookback=seeded_lookback())
        finally:
            orders_log.setLevel(level)
        logins = write_logins()
        connection.close()
        site = f"http://127.0.0.1:{port}"
        self.stdout.write("")
        self.stdout.write(f"Solde demo on {site}/")
        self.stdout.write(logins.replace(settings.SITE_URL, site))
        self.stdout.write(
            "Phone line: `solde phoneline <reference>`; the telephony webhook is "
            f"POST {site}/phoneline/voice/ (signed by the provider)."
        )
        self.stdout.write(
            f"Processes ({PROCFILE}, run by honcho): broker (MQTT on 127.0.0.1:{mqtt_port}), "
            f"web, worker, headend, meters ({meters} simulated: `solde meter show SERIAL`, "
            "`solde meter press SERIAL`), fakes (payment provider, fake Twilio, mail catcher "
            f"writing {settings.DATA_DIR / 'mail'}/*.eml). Stop with Ctrl-C."
        )
        self.stdout.flush()
        env = os.environ
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["SOLDE_DATA_DIR"] = str(settings.DATA_DIR)
        env["SOLDE_DEMO"] = "1"  # every process of the demo opts out of production's checks
        env["SOLDE_BIND"] = f"127.0.0.1:{port}"
        env["SOLDE_SITE_URL"] = site
        env["SOLDE_HEADEND_URL"] = f"mqtt://127.0.0.1:{mqtt_port}"
        env["SOLDE_DEMO_METERS"] = str(meters)
        env["SOLDE_DEMO_MQTT_PORT"] = str(mqtt_port)
        env.setdefault("PYTHONUNBUFFERED", "1")
        path = procfile()
        os.execv(honcho, [honcho, "-f", str(path), "-d", str(Path.cwd()), "start"])


class _Stop:
    """Wait for SIGTERM/SIGINT (honcho stops its processes with SIGTERM)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: self.event.set())
        signal.signal(signal.SIGINT, lambda *_: self.event.set())

    def wait(self) -> None:
        while not self.event.wait(1):
            pass


def _start_fake_payment_provider(out) -> None:
    """The demo takes online top-ups through the local fake provider (PAYMENT_PROVIDER=fake)."""
    from urllib.parse import urlparse

    if settings.PAYMENT_PROVIDER != "fake":
        return
    from solde.topups import fake_provider

    url = urlparse(settings.PAYMENT_PROVIDER_URL)
    try:
        server = fake_provider.start(url.port or 8010, url.hostname or "127.0.0.1")
    except OSError:
        out.write(f"Fake payment provider not started: {settings.PAYMENT_PROVIDER_URL} is busy.")
        return
    out.write(f"Fake payment provider on {server.url}/")


def _start_fake_sms_gateway(out):
    """SMS leave through the real pipeline and Twilio's SDK to a local fake Twilio, which
    keeps them and reports their delivery to Solde's signed status callback."""
    from urllib.parse import urlparse

    from solde.notifications.fake_twilio import API_VERSION, FakeTwilio

    url = urlparse(settings.TWILIO_API_URL)
    if settings.SMS_PROVIDER != "fake" or url.hostname not in ("127.0.0.1", "localhost"):
        return None
    try:
        fake = FakeTwilio(
            settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, url.hostname, url.port or 80
        ).start()
    except OSError:
        out.write(f"Fake Twilio not started: {settings.TWILIO_API_URL} is busy.")
        return None
    out.write(
        f"SMS sent (held 21:00-08:00, as for real customers): curl -u "
        f"{fake.account_sid}:{fake.auth_token} "
        f"{fake.url}/{API_VERSION}/Accounts/{fake.account_sid}/Messages.json"
    )
    return fake


def _start_mail_catcher(out):
    """E-mails leave over SMTP, as in production, to a local server that writes each one to
    var/mail/ as an .eml file (any mail client opens it)."""
    from aiosmtpd.controller import Controller

    folder = settings.DATA_DIR / "mail"
    folder.mkdir(parents=True, exist_ok=True)

    class Keep:
        async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
            stamp = clock.now().strftime("%Y%m%d-%H%M%S")
            name = f"{stamp}-{len(list(folder.iterdir())) + 1:05d}.eml"
            (folder / name).write_bytes(envelope.original_content or envelope.content)
            return "250 Message accepted for delivery"

    try:
        controller = Controller(Keep(), hostname=settings.EMAIL_HOST, port=settings.EMAIL_PORT)
        controller.start()
    except (OSError, RuntimeError):
        out.write(f"Mail catcher not started: port {settings.EMAIL_PORT} is busy.")
        return None
    out.write(f"E-mails sent: {folder}/ (one .eml file per message)")
    return controller
