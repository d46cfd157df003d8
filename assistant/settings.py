"""One Settings object composed of per-package sections.

Environment variables use the prefix ``BEDSIDE_`` and ``__`` between section and field
(``BEDSIDE_RETRIEVAL__EMBEDDER=hash``); named presets live in ``assistant/presets/*.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from corpus.chunking import ChunkingSettings
from corpus.errors import ConfigError
from corpus.loaders import DEFAULT_SOURCES
from corpus.types import DEFAULT_PRIORITY, SourceType
from retrieval.settings import RetrievalSettings

PRESETS_DIR = Path(__file__).resolve().parent / "presets"
_PLACEMENT = {"backend": True, "postgres": True, "verify_every_s": True}


class CorpusSettings(BaseModel):
    """How documents are cut into chunks, and which documents answers may quote first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_chars: int = Field(
        default=900,
        ge=200,
        le=8000,
        description="largest chunk in characters (tables may exceed it)",
    )
    priority: tuple[SourceType, ...] = Field(
        default=DEFAULT_PRIORITY,
        min_length=1,
        description="source types in order of precedence when more than one answers "
        "(institution: the hospital's own protocols)",
    )
    allow_drafts: bool = Field(
        default=False,
        description="quote protocols whose library.yaml status is draft (marked as drafts)",
    )

    @property
    def chunking(self) -> ChunkingSettings:
        """The settings the index is built with (precedence and drafts apply at answer
        time, so changing them never rebuilds the index)."""
        return ChunkingSettings(max_chars=self.max_chars)


class AssistantSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_question_chars: int = Field(default=4000, ge=10, description="longest question accepted")
    generator: str = Field(
        default="extractive", description="answer generator: extractive | openai"
    )
    k: int = Field(default=10, ge=1, le=50, description="passages given to the generator")
    max_statements: int = Field(
        default=8, ge=1, le=30, description="most sentences in an extractive answer"
    )
    min_coverage: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="least IDF-weighted share of question terms a quoted sentence must cover "
        "(and at least 0.3 of what the best sentence covers)",
    )
    layout: Literal["task", "source"] = Field(
        default="task",
        description="answer body by clinical task (options, monitoring, special populations, "
        "safety, evidence) or by source type (guidelines, FDA label, research, reference)",
    )
    abstain_below: float = Field(
        default=0.15,
        ge=0,
        le=1,
        description="abstain when no sentence covers this share of the question's terms (set from the gold set)",
    )
    link_hosts: tuple[str, ...] = Field(
        default=(),
        description="hosts, besides those of the cited sources' own url fields, that a link in "
        "source or generator text may point to (http and https only; any other link is shown "
        "as text)",
    )


class OpenAISettings(BaseModel):
    """An OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama, Azure)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(
        default="http://127.0.0.1:8080/v1", description="endpoint base URL (…/v1)"
    )
    model: str = Field(default="local-model", description="model name sent to the endpoint")
    api_key_env: str = Field(
        default="BEDSIDE_OPENAI_API_KEY", description="environment variable holding the API key"
    )
    key_host: str | None = Field(
        default=None,
        description="host:port the key belongs to (default: the host of base_url); never sent elsewhere",
    )
    timeout_s: float = Field(default=60.0, gt=0, le=600, description="request timeout in seconds")
    max_tokens: int = Field(default=800, ge=16, le=8192, description="completion length limit")
    context_tokens: int = Field(
        default=4096,
        ge=512,
        le=1_048_576,
        description="the model's context window in tokens (the server's n_ctx / max_model_len): "
        "passages are dropped or cut so that the prompt and max_tokens fit in it",
    )
    temperature: float = Field(default=0.0, ge=0, le=2, description="sampling temperature")


class ServerSettings(BaseModel):
    """`bedside serve`: where it listens and who may call or embed it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default="127.0.0.1", description="address `bedside serve` listens on")
    port: int = Field(default=8000, ge=1, le=65535, description="port `bedside serve` listens on")
    access: Literal["none", "token", "proxy"] = Field(
        default="none",
        description="who may use the API, the chat, /docs and /widget-demo: none (anyone who "
        "reaches the port; loopback only unless server.open_network), token (bearer token, or "
        "a browser login form), proxy (a user header set by an authenticating proxy listed "
        "in server.trusted_proxies)",
    )
    api_token_env: str = Field(
        default="BEDSIDE_API_TOKEN",
        description="environment variable holding the token when server.access is token "
        "(it must be set then, and unset otherwise)",
    )
    session_hours: float = Field(
        default=12, gt=0, le=720, description="how long a browser login lasts (access token)"
    )
    proxy_user_header: str = Field(
        default="X-Forwarded-User",
        pattern=r"^[A-Za-z0-9-]+$",
        description="header naming the signed-in user (access proxy), e.g. X-Forwarded-User, "
        "X-Auth-Request-Email, X-Remote-User",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks (CIDR) of reverse proxies whose X-Forwarded-* "
        "headers and user header are believed (default: none)",
    )
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "::1"],
        description="Host header values served (a leading *. matches subdomains; * any); "
        "anything else is 400",
    )
    open_network: bool = Field(
        default=False,
        description="allow access none on a host other than loopback (anyone who can reach "
        "the port can ask); `bedside serve` refuses otherwise",
    )
    rate_limit: int = Field(
        default=120,
        ge=0,
        le=100_000,
        description="most POST requests per client (user or address) per minute; over it "
        "is 429 (0: no limit)",
    )
    max_check_chars: int = Field(
        default=6_000,
        ge=100,
        le=1_000_000,
        description="longest answer text /api/check accepts (the guard's cost grows with "
        "the square of the doses in it)",
    )
    audit_store_questions: bool = Field(
        default=False,
        description="write the question text to the audit log (off: who, when, endpoint, "
        "answer id and verdict only)",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="origins allowed to call the API and the chat from a browser (default: none)",
    )
    frame_ancestors: list[str] = Field(
        default_factory=lambda: ["'self'"],
        description="origins allowed to embed the chat in a frame (CSP frame-ancestors)",
    )
    max_body_bytes: int = Field(
        default=262_144, ge=1024, le=50_000_000, description="largest request body accepted"
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="seconds a client has to send a request's line and headers (from its "
        "first byte, or from opening the connection); then the connection is closed",
    )
    body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="seconds a client has to send a request's body after its headers; then "
        "408 and the connection is closed",
    )
    max_history_turns: int = Field(
        default=20, ge=0, le=200, description="most earlier turns accepted with a question"
    )
    feedback_store_questions: bool = Field(
        default=False,
        description="store the question text with feedback (off: only answer id, rating, "
        "comment and the settings and index hashes)",
    )
    concurrency: int = Field(
        default_factory=lambda: min(16, os.cpu_count() or 1),
        ge=1,
        le=16,
        description="questions answered at the same time (the rest wait); default: one per "
        "CPU core, as answering is thread-safe and the embedder runs one thread per question",
    )
    workers: int = Field(
        default_factory=lambda: min(16, os.cpu_count() or 1),
        ge=1,
        le=16,
        description="`bedside serve` processes sharing the port (each answers server.concurrency "
        "questions at once; the index files are memory-mapped, so their pages are shared); "
        "default: one per CPU core",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BEDSIDE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    home: Path = Field(
        default=Path("~/.bedside"), description="where Bedside keeps its index and data"
    )
    index_dir: Path | None = Field(
        default=None, description="index directory (default: HOME/index)"
    )
    sources: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SOURCES),
        description="corpus sources as KIND or KIND:PATH (default: bundled packs + open-medicine)",
    )
    corpus: CorpusSettings = Field(default_factory=CorpusSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    assistant: AssistantSettings = Field(default_factory=AssistantSettings)
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
    server: ServerSettings = Field(default_factory=ServerSettings)

    @property
    def resolved_index_dir(self) -> Path:
        return (self.index_dir or self.home / "index").expanduser()

    @property
    def models_dir(self) -> Path:
        """Where embedding runtimes keep the model files they prepare: HOME/models."""
        return (self.home / "models").expanduser()

    def digest(self) -> str:
        """Short hash of every setting that changes results (paths and serving excluded)."""
        blob = self.model_dump_json(
            # where the index lives (retrieval.backend, .postgres) does not change results
            exclude={"home": True, "index_dir": True, "server": True, "retrieval": _PLACEMENT}
        ).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.json"))


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(preset: str | None = None, **overrides: Any) -> Settings:
    """Settings from (lowest first) defaults, a named preset, the environment, ``overrides``."""
    values: dict[str, Any] = {}
    if preset:
        path = PRESETS_DIR / f"{preset}.json"
        if not path.is_file():
            raise ConfigError(f"unknown preset {preset!r}; valid: {', '.join(preset_names())}")
        values = json.loads(path.read_text(encoding="utf-8"))
    try:
        env = Settings().model_dump(exclude_unset=True)  # what the environment sets
        values = _deep_merge(
            _deep_merge(values, env), {k: v for k, v in overrides.items() if v is not None}
        )
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {exc}") from exc
