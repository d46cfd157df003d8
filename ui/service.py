"""What the server does, independent of how it is reached (JSON API or chat).

Request bodies are pydantic models (parsed from the wire); the service answers only with
guarded ``Answer`` objects from ``Assistant.ask`` and guard ``Verdict`` objects.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.pipeline import Assistant
from assistant.types import Answer, Audience, Turn
from guardrails.batch import CheckInput, check_item, verdict_json
from guardrails.patient import PatientInput
from ui.feedback import FeedbackStore


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


def bedside_version() -> str:
    try:
        return version("bedside")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


@dataclass
class Service:
    """The assistant behind a semaphore (``server.concurrency`` answers at once), the
    feedback store, and the facts /api/health reports."""

    assistant: Assistant
    feedback: FeedbackStore

    def __post_init__(self) -> None:
        self._slots = threading.BoundedSemaphore(self.assistant.settings.server.concurrency)

    def ask(self, request: AskRequest) -> Answer:
        limit = self.assistant.settings.server.max_history_turns
        turns = [Turn(t.role, t.content) for t in request.history][-limit:] if limit else []
        patient = request.patient.to_patient() if request.patient else None
        with self._slots:
            return self.assistant.ask(request.question, turns, patient, request.audience)

    def check(self, request: CheckRequest) -> dict[str, Any]:
        item = CheckInput(id="api", **request.model_dump())
        verdict = check_item(item, self.assistant.reference)
        out = verdict_json("api", verdict)
        out.pop("id")
        out["checked_doses"] = verdict.checked_doses
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

    def health(self) -> dict[str, Any]:
        manifest = self.assistant.retriever.index.manifest
        return {
            "status": "ok",
            "version": bedside_version(),
            "settings_digest": self.assistant.settings.digest(),
            "index_digest": manifest.digest(),
            "generator": self.assistant.generator.name,
            "index": manifest.model_dump(mode="json"),
        }
