"""How a `bedside serve --workers N` worker process ends: through Python, so the
semaphores its multiprocessing locks hold are unlinked (no "leaked semaphore objects")."""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
from multiprocessing.connection import Connection
from pathlib import Path

from ui.workers import WorkerConfig, _end_worker


def _worker(conn: Connection) -> None:
    WorkerConfig("ui.workers:app_from_environment")  # uvicorn configures logging first thing
    lock = multiprocessing.get_context("spawn").Lock()  # as gradio's example logger makes
    conn.send(lock._semlock.name)  # type: ignore[attr-defined]
    conn.close()
    signal.raise_signal(signal.SIGINT)  # a second Ctrl-C: ignored outside uvicorn's serving
    signal.raise_signal(signal.SIGTERM)  # the supervisor stopping it before it served
    raise AssertionError("still running after SIGTERM")


def test_a_terminated_worker_exits_cleanly_and_unlinks_its_semaphores() -> None:
    context = multiprocessing.get_context("spawn")  # how uvicorn starts its workers
    parent, child = context.Pipe()
    process = context.Process(target=_worker, args=(child,))
    process.start()
    name = parent.recv()
    process.join(60)
    assert process.exitcode == 0  # SystemExit, not killed by the signal (-15)
    assert not Path(f"/dev/shm/sem.{name.lstrip('/')}").exists()


def test_the_sigterm_uvicorn_raises_again_after_its_shutdown_ends_nothing_early() -> None:
    async def serving() -> str:
        _end_worker(signal.SIGTERM, None)  # inside the event loop: the worker is ending anyway
        return "shut down in order"

    assert asyncio.run(serving()) == "shut down in order"
