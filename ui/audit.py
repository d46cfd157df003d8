"""The audit log: one JSON line per answer or dose check, appended to HOME/audit.jsonl.

A line says who (the signed-in user when the proxy names one, and the client address),
when (UTC), which endpoint, the answer id and the verdict. The question text is written
only when the deployment opts in (``server.audit_store_questions``). A line that cannot be
written is an error the caller sees (nothing is answered without its audit line); a log
deleted while serving is started again, never silently skipped. The file is readable by
its owner only.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from corpus.errors import StorageError
from ui.access import Identity

log = logging.getLogger("bedside.audit")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    time: str
    endpoint: str
    user: str | None
    client: str
    answer_id: str | None
    allowed: bool
    abstained: bool | None
    findings: int
    question: str | None


class AuditLog:
    """Append-only JSON lines; safe to use from the server's worker threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(
        self,
        who: Identity,
        endpoint: str,
        *,
        answer_id: str | None,
        allowed: bool,
        abstained: bool | None,
        findings: int,
        question: str | None,
    ) -> AuditEntry:
        entry = AuditEntry(
            time=datetime.now(UTC).isoformat(timespec="milliseconds"),
            endpoint=endpoint,
            user=who.user,
            client=who.client,
            answer_id=answer_id,
            allowed=allowed,
            abstained=abstained,
            findings=findings,
            question=question,
        )
        self.write(entry)
        return entry

    def write(self, entry: AuditEntry) -> None:
        """Append one entry, or raise StorageError (the answer is then withheld)."""
        line = json.dumps(asdict(entry), ensure_ascii=False) + "\n"
        with self._lock:
            try:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.fchmod(fd, 0o600)  # owner only, also a log made before this rule
                    os.write(fd, line.encode("utf-8"))
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                log.error("cannot write the audit log %s: %s", self.path, exc)
                raise StorageError(
                    "the audit log could not be written, so the answer is withheld; "
                    "the server log has the details"
                ) from exc
