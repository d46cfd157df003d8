"""Helpers for tests that run `bedside serve` as its own process: a free loopback port, and
waiting (bounded) for a condition while the server is still running."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(until: Callable[[], bool], proc: subprocess.Popen[bytes], seconds: float) -> bool:
    """Whether ``until()`` came true within ``seconds`` while ``proc`` still ran (an HTTP
    error counts as not yet)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if until():
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def healthy(base: str) -> Callable[[], bool]:
    """``/api/health`` answers 200."""
    return lambda: httpx.get(f"{base}/api/health", timeout=1).status_code == 200
