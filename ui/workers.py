"""`bedside serve --workers N`: each worker process builds its app from the settings the
parent resolved (passed in the environment, with no secret in them: ``worker_spec``), over
the index built or checked before they start.

The parent never loads the assistant or the embedding model (a child process builds and
verifies the index, then ends); a worker opens the index as built (verified against
its manifest and embedder) and answers its share of the connections.

A worker that cannot open the index (it changed since the parent verified it, say) exits
with uvicorn's startup-failure status, and the supervisor then stops every worker and
``bedside serve`` exits non-zero with the worker's message, rather than starting a
replacement that fails the same way every few seconds. SIGUSR1 to the parent is passed on
to every worker: each verifies its index again.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI

if TYPE_CHECKING:
    from assistant.settings import Settings

SPEC_ENV = "BEDSIDE_SERVE_SETTINGS"
PARENT_ENV = "BEDSIDE_SERVE_PARENT"  # the pid of the `bedside serve` process


def _exit_with_parent(every_s: float = 1.0) -> None:
    """End this worker when the `bedside serve` process that started it is gone (killed
    without the chance to stop its workers, even before this worker got here): a worker
    never outlives its server."""
    parent = int(os.environ.get(PARENT_ENV, "0")) or os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(0)

    threading.Thread(target=watch, name="bedside-parent-watch", daemon=True).start()


def _prepare_index(spec: str, build: bool) -> tuple[str, str] | None:
    """In the child process: build or refresh the index (``build``) and verify it against
    the embedder; the error's class name and message when something is wrong, else None."""
    from assistant.settings import Settings
    from corpus.errors import BedsideError
    from retrieval.embedders import get_embedder
    from retrieval.indexing import ensure_index
    from retrieval.store import verify_index
    from ui.cli import _progress_bar, log

    settings = Settings.model_validate_json(spec)
    try:
        embedder = get_embedder(
            settings.retrieval.embedder,
            settings.models_dir,
            log,
            precision=settings.retrieval.precision,
        )
        if build:
            report = ensure_index(
                settings.sources,
                settings.resolved_index_dir,
                embedder=embedder,
                chunking=settings.corpus.chunking,
                retrieval=settings.retrieval,
                progress=_progress_bar(),
            )
            if report.built:
                log(f"built the index ({report.reason}); {report.manifest.counts.chunks} chunks")
        verify_index(settings.resolved_index_dir, embedder)
    except BedsideError as exc:
        return type(exc).__name__, str(exc)
    return None


def prepare_index_apart(settings: Settings, *, build: bool) -> None:
    """Build (when ``build``) and verify the local index in a child process and wait for it,
    so the process that then supervises the workers never holds the embedding model (1.6 GB
    after a build). Its error, if any, is raised here with the same message."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from corpus import errors

    context = multiprocessing.get_context("spawn")  # a fresh interpreter, nothing inherited
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        failure = pool.submit(_prepare_index, settings.model_dump_json(), build).result()
    if failure is not None:
        name, message = failure
        kind = getattr(errors, name, errors.BedsideError)
        try:
            error = kind(message)
        except TypeError:  # an error made from several parts (RecordError)
            error = errors.BedsideError(message)
        raise error


def worker_spec(settings: Settings) -> str:
    """The settings JSON the workers read from ``SPEC_ENV``, or a ConfigError when it would
    carry a secret: a password in the database DSN (refused as `bedside index` refuses it),
    a password in the answer endpoint's URL, or the value of a secret's variable anywhere.
    Secrets stay in the variables the operator set (named in the settings), which the
    workers inherit and read; no new copy of one is made in a worker's environment."""
    from urllib.parse import urlsplit

    from corpus.errors import ConfigError

    if settings.retrieval.backend == "postgres":
        from retrieval.postgres import check_dsn

        check_dsn(settings.retrieval.postgres)
    if urlsplit(settings.openai.base_url).password:
        raise ConfigError(
            "openai.base_url contains a password; remove it and put the key in the "
            f"environment variable {settings.openai.api_key_env}"
        )
    spec = settings.model_dump_json()
    for name in (
        settings.server.api_token_env,
        settings.retrieval.postgres.password_env,
        settings.openai.api_key_env,
    ):
        value = os.environ.get(name, "")
        if len(value) >= 8 and value in spec:
            raise ConfigError(
                f"a setting holds the value of {name}; keep that secret only in {name}"
            )
    return spec


def listening_socket(config: uvicorn.Config) -> socket.socket:
    """The socket the workers share, with TCP_NODELAY, which connections accepted on it
    inherit. uvicorn binds it with protocol 0, and asyncio sets TCP_NODELAY only on sockets
    of protocol IPPROTO_TCP, so without this every answer on a kept-alive connection waited
    about 40 ms for the client's delayed ACK (Nagle)."""
    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _end_worker(sig: int, frame: Any) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # not serving yet: end here, unwinding
        raise SystemExit(0) from None
    # Raised again by uvicorn after its graceful shutdown: the worker is ending already.


class WorkerConfig(uvicorn.Config):
    """uvicorn's settings, plus the signal handling of a worker process, installed first
    thing in each worker (uvicorn calls ``configure_logging`` there before serving).

    A SIGTERM from the supervisor ends the worker through Python, so it runs its exit
    handlers (before serving: SystemExit; after uvicorn's graceful shutdown, which raises
    the signal again: nothing more to do). Left at the default, a SIGTERM that arrives while
    the worker is still loading the app is re-raised by uvicorn after its graceful shutdown and kills the process
    outright; the POSIX semaphore of the multiprocessing lock gradio's example logger makes
    is then never unlinked, and the resource tracker warns of leaked semaphore objects at
    exit. SIGINT is ignored outside uvicorn's own handling: the supervisor turns Ctrl-C into
    a SIGTERM per worker, and a second Ctrl-C must not interrupt a worker's exit handlers."""

    def configure_logging(self) -> None:
        super().configure_logging()
        if multiprocessing.parent_process() is not None:  # a worker, not the supervisor
            signal.signal(signal.SIGTERM, _end_worker)
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_workers(app: str, **options: Any) -> None:
    """``uvicorn.run(app, workers=N, ...)``, over :func:`listening_socket`. Raises
    BedsideError when a worker could not start (the supervisor then stopped them all)."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    from corpus.errors import BedsideError

    class Supervisor(Multiprocess):
        def handle_usr1(self) -> None:
            for process in self.processes:
                if process.pid is not None and process.exitcode is None:
                    os.kill(process.pid, signal.SIGUSR1)

    config = WorkerConfig(app, **options)
    supervisor = Supervisor(config, sockets=[listening_socket(config)])
    with contextlib.suppress(KeyboardInterrupt):
        supervisor.run()
    if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
        raise BedsideError(
            "a worker process could not start (its error is above), so the server stopped "
            "rather than start it again and again; fix the cause and start `bedside serve`"
        )


def app_from_environment() -> FastAPI:
    from uvicorn.config import STARTUP_FAILURE

    from assistant.pipeline import Assistant
    from assistant.settings import Settings
    from corpus.errors import BedsideError
    from guardrails.lexicon import drug_lexicon
    from ui.app import create_app
    from ui.pg_store import open_audit_log, open_feedback_store
    from ui.service import Service

    _exit_with_parent()
    settings = Settings.model_validate_json(os.environ[SPEC_ENV])
    try:
        assistant = Assistant.from_settings(
            settings, log=lambda m: print(f"bedside: {m}", file=sys.stderr), refresh=False
        )
    except BedsideError as exc:
        # uvicorn's supervisor stops, rather than respawns, a worker that exits so
        print(f"bedside: worker {os.getpid()} cannot serve: {exc}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
    # Ready before the worker takes connections: the first answer needs the drug lexicon
    # (read from HOME/cache, or built once), which would otherwise cost that request seconds.
    drug_lexicon()
    # Feedback and audit lines from every worker go to one store: HOME's SQLite file and
    # audit.jsonl (appended whole lines), or the shared database.
    service = Service(assistant, open_feedback_store(settings), audit=open_audit_log(settings))
    app = create_app(service)
    service.start_verifying()  # retrieval.verify_every_s, and SIGUSR1 from the parent
    return app
