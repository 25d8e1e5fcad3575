"""`solde serve`: the production web server (granian by default, gunicorn on request), static
files collected with hashed names and served by whitenoise. Plain HTTP on the bind address; in
production a reverse proxy or load balancer terminates TLS in front (docs/decisions/0007,
0014 for the choice of server, workers and threads)."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django_typer.management import TyperCommand

SERVERS = ("gunicorn", "granian")
GUNICORN_KEEP_ALIVE = 75  # seconds: longer than the usual proxy idle timeout (60 s)
FINGERPRINT = ".solde-sources"


def static_fingerprint() -> str:
    """Names, sizes and times of every static source file the finders see: what a collect
    would copy. Collecting (hashing and compressing) takes seconds, so `serve` does it only
    when this changed since the last collect (an upgrade, a first start)."""
    import hashlib

    from django.contrib.staticfiles.finders import get_finders

    digest = hashlib.sha256()
    for finder in get_finders():
        for path, storage in finder.list(ignore_patterns=[]):
            stat = os.stat(storage.path(path))
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def collect_static_if_changed() -> bool:
    """Run collectstatic when the sources changed since the last run; True if it ran."""
    root = settings.STATIC_ROOT
    marker = root / FINGERPRINT
    current = static_fingerprint()
    if marker.exists() and marker.read_text() == current:
        return False
    call_command("collectstatic", interactive=False, verbosity=0)
    marker.write_text(current)
    return True


def default_workers(cores: int | None = None) -> int:
    """One process per core and one more: a request waiting on PostgreSQL leaves its core to
    another process (sync workers), without so many that they fight over 2 cores."""
    return (cores or os.cpu_count() or 1) + 1


# Threads per worker: while one request waits on PostgreSQL another runs Python. Measured on
# 2 cores (docs/decisions/0014): 2 beat 1 with both servers; more only add GIL contention.
DEFAULT_THREADS = 2


def server_argv(server: str, bind: str, workers: int, threads: int) -> list[str]:
    """The command line that starts `server` on `bind` with the WSGI application."""
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise CommandError(f"--bind {bind!r}: give HOST:PORT, e.g. 127.0.0.1:8000.")
    py = sys.executable
    if server == "gunicorn":
        return [
            py, "-m", "gunicorn", "solde.wsgi:application",
            "--bind", bind,
            "--workers", str(workers),
            "--threads", str(threads),
            "--worker-tmp-dir", "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp",
            "--graceful-timeout", "20",
            "--timeout", "60",
            "--no-control-socket",  # several servers on one machine (tests, benchmarks)
            "--backlog", "2048",
            # Idle connections are closed by the client side (a proxy or load balancer, 60 s
            # by default), not at gunicorn's 2 s: a request sent just as the server closes an
            # idle connection is lost (the web benchmark's IncompleteReadErrors).
            "--keep-alive", str(GUNICORN_KEEP_ALIVE),
        ]  # fmt: skip
    if server == "granian":
        return [
            py, "-m", "granian", "--interface", "wsgi",
            "--host", host, "--port", port,
            "--workers", str(workers),
            "--blocking-threads", str(threads),
            "--backlog", "2048",
            "--no-ws",
            "--respawn-failed-workers",  # a worker that dies is replaced (as gunicorn does)
            "--workers-kill-timeout", "20",  # the graceful stop's grace, as gunicorn's
            "solde.wsgi:application",
        ]  # fmt: skip
    raise CommandError(f"--server {server!r}: one of {', '.join(SERVERS)}.")


class Command(TyperCommand):
    help = "Serve Solde with the production web server (SOLDE_BIND, default 127.0.0.1:8000)."

    def handle(
        self,
        bind: Annotated[
            str, typer.Option(help="HOST:PORT to listen on (SOLDE_BIND).")
        ] = settings.WEB_BIND,
        workers: Annotated[
            int, typer.Option(help="Worker processes; 0 = cores + 1 (SOLDE_WEB_WORKERS).")
        ] = settings.WEB_WORKERS,
        threads: Annotated[
            int, typer.Option(help="Threads per worker; 0 = 2 (SOLDE_WEB_THREADS).")
        ] = settings.WEB_THREADS,
        server: Annotated[
            str, typer.Option(help="granian or gunicorn (SOLDE_WEB_SERVER).")
        ] = settings.WEB_SERVER,
        collectstatic: Annotated[
            bool,
            typer.Option(help="Collect the static files (hashed names) first if they changed."),
        ] = True,
    ) -> None:
        workers = workers or default_workers()
        threads = threads or DEFAULT_THREADS
        argv = server_argv(server, bind, workers, threads)
        if collectstatic and collect_static_if_changed():
            self.stdout.write(f"Static files collected in {settings.STATIC_ROOT}.")
        # The server forks its workers: no connection (nor pool) may be inherited from here.
        connections.close_all()
        self.stdout.write(
            f"Serving on http://{bind}/ with {server}: {workers} workers × {threads} threads."
        )
        self.stdout.flush()
        sys.stderr.flush()
        os.execv(argv[0], argv)  # the server takes this process over: signals reach it directly
