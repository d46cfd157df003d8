"""`bedside serve --workers N`: each worker process builds its app from the settings the
parent resolved (passed in the environment), over the index the parent built or checked.

The parent never loads the assistant; a worker opens the index as built (verified against
its manifest and embedder) and answers its share of the connections.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from fastapi import FastAPI

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


def app_from_environment() -> FastAPI:
    from assistant.pipeline import Assistant
    from assistant.settings import Settings
    from guardrails.lexicon import drug_lexicon
    from ui.app import create_app
    from ui.pg_store import open_audit_log, open_feedback_store
    from ui.service import Service

    _exit_with_parent()
    settings = Settings.model_validate_json(os.environ[SPEC_ENV])
    assistant = Assistant.from_settings(
        settings, log=lambda m: print(f"bedside: {m}", file=sys.stderr), refresh=False
    )
    # Ready before the worker takes connections: the first answer needs the drug lexicon
    # (read from HOME/cache, or built once), which would otherwise cost that request seconds.
    drug_lexicon()
    # Feedback and audit lines from every worker go to one store: HOME's SQLite file and
    # audit.jsonl (appended whole lines), or the shared database.
    service = Service(assistant, open_feedback_store(settings), audit=open_audit_log(settings))
    return create_app(service)
