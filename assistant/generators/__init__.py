"""Answer generators, chosen by name. A generator is one method:
``generate(question, passages, history) -> Draft``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from assistant.types import Draft, Turn
from corpus.errors import BedsideError, ConfigError
from retrieval.types import Passage

if TYPE_CHECKING:
    from assistant.frame import Frame
    from assistant.settings import Settings


class GeneratorError(BedsideError):
    """A generator could not produce a draft (endpoint down, timeout, bad reply)."""


class Generator(Protocol):
    """Turns the question (read into ``frame``), its passages and the conversation into a
    draft. ``quotes``: every statement it writes is a verbatim, exactly cited quote, so the
    pipeline may add further quotes (an agent's dose, a target) beside them; a writing
    generator's prose is left as written."""

    name: str
    quotes: bool

    def generate(
        self,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[Turn] = (),
        frame: Frame | None = None,
    ) -> Draft: ...


def _extractive(settings: Settings) -> Generator:
    from assistant.generators.extractive import ExtractiveGenerator

    return ExtractiveGenerator(settings.assistant, settings.corpus.priority)


def _openai(settings: Settings) -> Generator:
    from assistant.generators.openai_compat import OpenAICompatGenerator

    return OpenAICompatGenerator(settings.openai)


GENERATORS: dict[str, Callable[[Settings], Generator]] = {
    "extractive": _extractive,
    "openai": _openai,
}


def get_generator(name: str, settings: Settings) -> Generator:
    """Generator by name; an unknown name lists the valid ones."""
    try:
        factory = GENERATORS[name]
    except KeyError:
        raise ConfigError(f"unknown generator {name!r}; valid: {', '.join(GENERATORS)}") from None
    return factory(settings)
