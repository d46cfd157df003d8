"""One Settings object composed of per-package sections.

Environment variables use the prefix ``BEDSIDE_`` and ``__`` between section and field
(``BEDSIDE_RETRIEVAL__EMBEDDER=hash``); named presets live in ``assistant/presets/*.json``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from corpus.chunking import ChunkingSettings
from corpus.errors import ConfigError
from corpus.loaders import DEFAULT_SOURCES
from retrieval.settings import RetrievalSettings

PRESETS_DIR = Path(__file__).resolve().parent / "presets"


class AssistantSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_question_chars: int = Field(default=4000, ge=10, description="longest question accepted")


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
    corpus: ChunkingSettings = Field(default_factory=ChunkingSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    assistant: AssistantSettings = Field(default_factory=AssistantSettings)

    @property
    def resolved_index_dir(self) -> Path:
        return (self.index_dir or self.home / "index").expanduser()

    def digest(self) -> str:
        """Short hash of every setting that changes results (paths excluded)."""
        blob = self.model_dump_json(exclude={"home", "index_dir"}).encode()
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
