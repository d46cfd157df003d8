"""Helpers for tests of the app in process: a service over another's index with its own
settings, and a test client that is a given peer on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from assistant.pipeline import Assistant
from assistant.settings import load_settings
from ui.feedback import FeedbackStore
from ui.service import Service

LOCAL = "http://127.0.0.1"


def service_over(base: Service, home: Path, **server: Any) -> Service:
    """A service with the ``server`` settings given, over ``base``'s index and generator
    (built once a module), writing its feedback under ``home``."""
    settings = load_settings(
        "fast", home=home, sources=base.assistant.settings.sources, server=server
    )
    return Service(
        Assistant(settings, base.assistant.retriever, base.assistant.generator),
        FeedbackStore(home / "feedback.sqlite3"),
    )


def client(app: FastAPI, peer: str = "127.0.0.1", **kw: Any) -> TestClient:
    """A client at address ``peer``; server errors come back as responses, redirects are
    not followed."""
    return TestClient(
        app,
        base_url=LOCAL,
        client=(peer, 50000),
        raise_server_exceptions=False,
        follow_redirects=False,
        **kw,
    )
