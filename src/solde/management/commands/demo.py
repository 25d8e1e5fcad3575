"""`solde demo`: migrate the embedded database, seed demo data once, run the platform's scheduled
work in the background, print the logins and serve on http://127.0.0.1:8000."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Annotated

import typer
from django.conf import settings
from django.core.management import call_command
from django.db import close_old_connections, connection
from django_typer.management import TyperCommand

from solde import clock

log = logging.getLogger("solde.demo")
TICK_SECONDS = 10.0


def scheduler_loop(stop: threading.Event, lookback: timedelta, tick: float = TICK_SECONDS) -> None:
    """Run what fell due (daily closes, windows, displays…) every `tick` seconds until `stop`.

    The first run of a job reaches back over the seeded history, so the demo's past days are
    closed as they would have been. A failing job is logged and retried at the next tick: the
    web server never goes down with it.
    """
    from solde import schedule

    while not stop.is_set():
        try:
            close_old_connections()
            schedule.run_due(first_run_lookback=lookback)
        except Exception:  # noqa: BLE001 — keep the demo serving; the log says what failed
            log.exception("Scheduled work failed; trying again in %s s", tick)
        finally:
            connection.close()
        stop.wait(tick)


def seeded_lookback() -> timedelta:
    """From the earliest activation to now, plus a day, so every seeded day is closed."""
    from django.db.models import Min

    from solde.prepayment.models import PrepaymentAccount

    first = PrepaymentAccount.objects.aggregate(m=Min("activated_at"))["m"]
    if first is None:
        return timedelta(days=1)
    return clock.now() - first + timedelta(days=1)


class Command(TyperCommand):
    help = "Run the demo: migrate, seed demo data on first run, serve on http://127.0.0.1:8000."

    def handle(
        self,
        port: Annotated[int, typer.Option(help="The port to serve on.")] = 8000,
        supply_points: Annotated[int, typer.Option(help="Fleet size on the first run.")] = 300,
        days: Annotated[int, typer.Option(help="Days of history on the first run.")] = 60,
        scheduler: Annotated[
            bool, typer.Option(help="Run scheduled work in the background.")
        ] = True,
    ) -> None:
        from solde.registry.models import SupplyPoint

        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        self.stdout.write("Preparing the database…")
        call_command("migrate", verbosity=0)
        if not SupplyPoint.objects.exists():
            self.stdout.write(f"First run: seeding {supply_points} supply points, {days} days.")
            call_command("seed-demo", supply_points=supply_points, days=days)
        logins_path = settings.DATA_DIR / "demo-logins.txt"
        if not logins_path.exists():
            from solde.demo.fleet import make_logins

            make_logins()
        if scheduler:
            stop = threading.Event()
            thread = threading.Thread(
                target=scheduler_loop,
                args=(stop, seeded_lookback()),
                name="solde-scheduler",
                daemon=True,
            )
            thread.start()
        _start_fake_payment_provider(self.stdout)
        _start_meter_fleet(self.stdout)
        _start_fake_sms_gateway(self.stdout)
        _start_mail_catcher(self.stdout)
        connection.close()
        self.stdout.write("")
        self.stdout.write(f"Solde demo on http://127.0.0.1:{port}/")
        self.stdout.write(
            logins_path.read_text().replace(settings.SITE_URL, f"http://127.0.0.1:{port}")
        )
        self.stdout.write(
            f"Phone line: http://127.0.0.1:{port}/phoneline/?reference=<13 digits> "
            "or `solde phoneline <reference>`."
        )
        self.stdout.write("Stop with Ctrl-C.")
        call_command("runserver", f"127.0.0.1:{port}", use_reloader=False, insecure_serving=True)


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


def _start_meter_fleet(out, meters: int = 50) -> None:
    """The first meters of the demo fleet live: they send readings, execute orders and answer,
    over the in-process head-end (no broker to install)."""
    if settings.HEADEND_URL != "inprocess":
        out.write(
            f"Head-end {settings.HEADEND_URL}: run `solde headend listen` and `solde simulate` "
            "beside the demo."
        )
        return
    from solde.headend.simulator import start_in_background

    start_in_background(meters=meters)
    out.write(
        f"Meters: {meters} simulated meters answer orders; `solde meter show SERIAL` shows a "
        "display, `solde meter press SERIAL` presses its button."
    )


def _start_fake_sms_gateway(out):
    """SMS leave through the real pipeline to a local fake gateway that keeps them."""
    from urllib.parse import urlparse

    from solde.notifications.fake_sms import FakeSmsGateway

    url = urlparse(settings.SMS_GATEWAY_URL)
    if url.hostname not in ("127.0.0.1", "localhost"):
        return
    try:
        gateway = FakeSmsGateway(url.hostname, url.port or 80).start()
    except OSError:
        out.write(f"Fake SMS gateway not started: {settings.SMS_GATEWAY_URL} is busy.")
        return None
    out.write(f"SMS sent: {gateway.url}/messages (held 21:00-08:00, as for real customers)")
    return gateway


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
