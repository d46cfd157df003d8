"""A real PostgreSQL 16 + pgvector server for the postgres backend tests, started from the
``pgserver`` wheel once per session; each test gets its own empty database."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_numbers = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    try:
        import pgserver
    except ImportError as exc:
        pytest.skip(f"PostgreSQL tests need the pgserver wheel (pip install -e '.[test]'): {exc}")
    # a short path: the server's Unix socket lives in its data directory (108-byte limit)
    root = Path(tempfile.mkdtemp(prefix="bpg"))
    try:
        server = pgserver.get_server(root, cleanup_mode="stop")
    except Exception as exc:  # any failure to start is a reason to skip, said in full
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"the PostgreSQL test server from pgserver could not start: {exc}")
    yield server
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_dsn(pg_server: Any) -> str:
    """The DSN of a fresh database on the test server (trust authentication, no password)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"bedside_t{next(_numbers)}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    parts = conninfo_to_dict(pg_server.get_uri())
    parts.pop("password", None)
    parts["dbname"] = name
    return make_conninfo(**parts)


@pytest.fixture
def pg_settings(pg_dsn: str) -> Any:
    from retrieval.settings import PostgresSettings

    return PostgresSettings(dsn=pg_dsn, poll_s=0.2)
