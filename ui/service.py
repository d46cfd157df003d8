"""What the server does, independent of how it is reached (JSON API or chat).

Request bodies are pydantic models (parsed from the wire); the service answers only with
guarded ``Answer`` objects from ``Assistant.ask`` and guard ``Verdict`` objects.

A serving process verifies its index again every ``retrieval.verify_every_s`` seconds and on
SIGUSR1 (``start_verifying``): every file's (table's) hash against the manifest, and the
manifest's digest against the one verified at start. While the index does not match it
answers no question (``IndexUnavailableError``, HTTP 503) and /api/health says why.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from collections.abc import Generator
from dataclasses import dataclass
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.pipeline import Assistant
from assistant.types import Answer, AnswerEvent, Audience, Event, Turn
from corpus.errors import BedsideError, IndexStoreError, InputError, UnreachableError
from guardrails.batch import CheckInput, check_item, verdict_json
from guardrails.patient import Patient, PatientInput
from ui.access import Identity
from ui.audit import AuditLog
from ui.feedback import FeedbackStore
from ui.library import DocumentView, LibraryEntry, document_view, library_entries
from ui.limiter import Slots

# Who asked, when the caller cannot say (in-process use, tests).
LOCAL = Identity(user=None, client="local")
# The signal that asks a running server to verify its index now (`kill -USR1 PID`).
VERIFY_SIGNAL = signal.SIGUSR1

log = logging.getLogger("bedside.server")


class IndexUnavailableError(BedsideError):
    """The served index no longer matches what was verified: no answer is given from it.
    Its message is written for clients: it names the changed file (relative to the index)
    or table, never a host, user or absolute path."""

    client_safe = True


class TurnIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["user", "assistant"]
    content: str = Field(max_length=100_000)


class AskRequest(BaseModel):
    """``POST /api/ask``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(description="the question, as typed")
    history: list[TurnIn] = Field(
        default_factory=list, description="earlier turns of the conversation, oldest first"
    )
    patient: PatientInput | None = Field(
        default=None, description="patient facts the dose check uses"
    )
    audience: Audience = Field(default="clinician", description="clinician | patient")


class CheckRequest(BaseModel):
    """``POST /api/check``: the dose guard alone, over any answer text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    answer: str = Field(description="answer text with [n] citation markers")
    question: str | None = None
    patient: PatientInput | None = None
    citations: dict[int, str] | None = Field(
        default=None, description="citation marker -> passage id"
    )
    passages: dict[str, str] | None = Field(default=None, description="passage id -> passage text")


class FeedbackRequest(BaseModel):
    """``POST /api/feedback``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    answer_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")
    rating: Literal["up", "down"]
    comment: str = Field(default="", max_length=4000)
    question: str | None = Field(
        default=None,
        max_length=4000,
        description="stored only when the deployment opts in (server.feedback_store_questions)",
    )


# A NUL, or a surrogate code point (never valid alone in a str from JSON).
_INVALID = re.compile("[\x00\ud800-\udfff]")


def refuse_invalid_text(field: str, text: str) -> None:
    """A NUL or a lone surrogate (JSON can carry both) is an InputError naming where. One
    regex pass: a 200 KB check body is read in C, not character by character."""
    found = _INVALID.search(text)
    if found:
        ch = found.group()
        what = "a NUL character" if ch == "\x00" else "a byte that is not valid UTF-8 text"
        raise InputError(f"{field} contains {what} at character {found.start() + 1}")


def bedside_version() -> str:
    try:
        return version("bedside")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


@dataclass
class Service:
    """The assistant behind ``server.concurrency`` slots shared by answers and dose checks
    (``ui.limiter``: first come, first served; checks hold at most half), the feedback store, the audit log (default HOME/audit.jsonl) and the facts
    /api/health reports."""

    assistant: Assistant
    feedback: FeedbackStore
    audit: AuditLog | None = None

    def __post_init__(self) -> None:
        settings = self.assistant.settings
        self._slots = Slots(settings.server.concurrency)
        self._audit = self.audit or AuditLog(settings.home.expanduser() / "audit.jsonl")
        self._index_error: str | None = None  # why the served index is refused, if it is
        self._verify_lock = threading.Lock()
        self._verify_asked = threading.Event()
        self._verifier: threading.Thread | None = None
        # The library of the index served, for one (index digest, date): a new version or a
        # new day lists it again.
        self._library: tuple[tuple[str, date], list[LibraryEntry]] | None = None
        self._library_lock = threading.Lock()

    # ------------------------------------------------------------ index re-verification

    @property
    def index_error(self) -> str | None:
        """Why answers are refused (the last verification failed), or None."""
        return self._index_error

    def verify_index(self) -> str | None:
        """Verify the served index now (the retriever's ``verify``: every file's or table's
        hash, and the digest verified at start). Answers are refused while it fails and
        served again once it passes; returns the failure, or None."""
        with self._verify_lock:
            try:
                self.assistant.retriever.verify()
            except UnreachableError as exc:  # the database is down: nothing is known to
                # have changed, so the state stays, and the check runs again
                log.warning("could not verify the index: %s", exc)
            except IndexStoreError as exc:
                if str(exc) != self._index_error:
                    log.error("refusing to answer: %s", exc)
                self._index_error = str(exc)
            except Exception as exc:  # could not verify (the database is down): nothing
                # is known to have changed, so the state stays, and the check runs again
                log.warning("could not verify the index: %s: %s", type(exc).__name__, exc)
            else:
                if self._index_error is not None:
                    log.warning("the index matches its manifest again; answering")
                self._index_error = None
            return self._index_error

    def request_verify(self) -> None:
        """Ask the verifying thread to verify now (safe in a signal handler)."""
        self._verify_asked.set()

    def start_verifying(self, every_s: float | None = None) -> None:
        """Verify the index every ``every_s`` seconds (default ``retrieval.verify_every_s``;
        0: only when asked) and whenever the process gets SIGUSR1, on a daemon thread.
        The signal handler is installed only from the main thread (Python's rule)."""
        every = self.assistant.settings.retrieval.verify_every_s if every_s is None else every_s
        if threading.current_thread() is threading.main_thread():
            signal.signal(VERIFY_SIGNAL, lambda *_: self.request_verify())
        if self._verifier is not None:
            return

        def run() -> None:
            while True:
                self._verify_asked.wait(every or None)
                self._verify_asked.clear()
                self.verify_index()

        self._verifier = threading.Thread(target=run, name="bedside-index-verify", daemon=True)
        self._verifier.start()

    def _refuse_if_unverified(self) -> None:
        if self._index_error is not None:
            raise IndexUnavailableError(f"Bedside is not answering: {self._index_error}")

    @property
    def audit_log(self) -> AuditLog:
        return self._audit

    def ask(self, request: AskRequest, who: Identity = LOCAL, endpoint: str = "local") -> Answer:
        turns, patient = self._inputs(request)
        self._refuse_if_unverified()
        with self._slots:
            answer = self.assistant.ask(request.question, turns, patient, request.audience)
        self._record(answer, request, who, endpoint)
        return answer

    def _inputs(self, request: AskRequest) -> tuple[list[Turn], Patient | None]:
        """The conversation turns kept (``server.max_history_turns``) and the patient."""
        limit = self.assistant.settings.server.max_history_turns
        turns = [Turn(t.role, t.content) for t in request.history][-limit:] if limit else []
        return turns, request.patient.to_patient() if request.patient else None

    def _record(self, answer: Answer, request: AskRequest, who: Identity, endpoint: str) -> None:
        """The answer's audit line (the question only where the setting keeps questions)."""
        keep = self.assistant.settings.server.audit_store_questions
        self._audit.record(
            who,
            endpoint,
            answer_id=answer.answer_id,
            allowed=answer.verdict.allowed,
            abstained=answer.abstained,
            findings=len(answer.verdict.findings),
            question=request.question if keep else None,
        )

    def ask_stream(
        self, request: AskRequest, who: Identity = LOCAL, endpoint: str = "local"
    ) -> Generator[Event, None, None]:
        """``ask`` as ``Assistant.ask_stream`` events. The answer slot is taken before the
        first event and held until the answer is sent or the iterator is closed; the answer
        is audited as ``ask`` audits it."""
        turns, patient = self._inputs(request)
        self._refuse_if_unverified()
        with self._slots:
            events = self.assistant.ask_stream(request.question, turns, patient, request.audience)
            try:
                for event in events:
                    if isinstance(event, AnswerEvent):
                        self._record(event.answer, request, who, endpoint)
                    yield event
            finally:
                events.close()

    def check(self, request: CheckRequest, who: Identity = LOCAL) -> dict[str, Any]:
        server = self.assistant.settings.server
        texts = {"answer": request.answer, "question": request.question or ""}
        texts.update({f"passages.{k}": v for k, v in (request.passages or {}).items()})
        for field, text in texts.items():
            refuse_invalid_text(field, text)
        # The guard's cost grows with the square of the doses in the answer; the passages
        # are only searched (bounded by server.max_body_bytes).
        if len(request.answer) > server.max_check_chars:
            raise InputError(
                f"the answer is {len(request.answer):,} characters; the limit is "
                f"{server.max_check_chars:,} (server.max_check_chars)"
            )
        item = CheckInput(id="api", **request.model_dump())
        with self._slots.hold("check"):
            verdict = check_item(item, self.assistant.reference)
        out = verdict_json("api", verdict)
        out.pop("id")
        out["checked_doses"] = verdict.checked_doses
        self._audit.record(
            who,
            "/api/check",
            answer_id=None,
            allowed=verdict.allowed,
            abstained=None,
            findings=len(verdict.findings),
            question=request.question if server.audit_store_questions else None,
        )
        return out

    def record_feedback(self, request: FeedbackRequest) -> int:
        settings = self.assistant.settings
        return self.feedback.add(
            answer_id=request.answer_id,
            rating=request.rating,
            comment=request.comment,
            settings_digest=settings.digest(),
            index_digest=self.assistant.retriever.index.manifest.digest(),
            question=request.question if settings.server.feedback_store_questions else None,
        )

    def library(self, today: date) -> list[LibraryEntry]:
        """Every document of the served index (``ui.library``); refused, as answers are,
        while the index does not match what was verified."""
        self._refuse_if_unverified()
        retriever = self.assistant.retriever
        key = (retriever.digest, today)
        with self._library_lock:
            if self._library is None or self._library[0] != key:
                self._library = (key, library_entries(retriever, today))
            return self._library[1]

    def document(self, doc_id: str) -> DocumentView:
        """One document of the served index read back by section; KeyError when there is
        no such document."""
        self._refuse_if_unverified()
        return document_view(self.assistant.retriever, doc_id)

    def health(self) -> dict[str, Any]:
        """What /api/health reports; ``status`` is "index_changed" (with ``error``, and
        HTTP 503) while the served index does not match what was verified."""
        manifest = self.assistant.retriever.index.manifest
        problem = {"error": self._index_error} if self._index_error else {}
        return {
            "status": "index_changed" if self._index_error else "ok",
            **problem,
            "version": bedside_version(),
            "settings_digest": self.assistant.settings.digest(),
            "index_digest": manifest.digest(),
            "generator": self.assistant.generator.name,
            "index": {
                **manifest.model_dump(mode="json"),
                "sources": public_sources(manifest.sources),
            },
        }


def public_sources(sources: list[str]) -> list[str]:
    """Sources as KIND or KIND:NAME: what was indexed, without the server's directories."""
    out = []
    for source in sources:
        kind, sep, where = source.partition(":")
        if not sep:
            out.append(kind)
            continue
        name = where.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        out.append(f"{kind}:{name}")
    return out
