"""Every command, setting and source kind is documented in the README."""

from pathlib import Path

import pytest
from pydantic import BaseModel

from assistant.settings import Settings
from corpus.loaders import SOURCE_KINDS
from ui.cli import build_parser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _setting_names(model: type[BaseModel], prefix: str = "") -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            names.extend(_setting_names(ann, f"{prefix}{name}."))
        else:
            names.append(prefix + name)
    return names


@pytest.mark.parametrize("name", _setting_names(Settings))
def test_setting_is_documented(name: str) -> None:
    assert f"`{name}`" in README


def test_every_command_is_documented() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for command in sub.choices:  # type: ignore[union-attr]
        assert f"`bedside {command}" in README, command


@pytest.mark.parametrize("kind", list(SOURCE_KINDS))
def test_source_kind_is_documented(kind: str) -> None:
    assert f"| `{kind}` |" in README


def test_every_guard_rule_id_is_documented() -> None:
    from guardrails.rules import RULES

    for rule_id, (severity, _) in RULES.items():
        assert f"| `{rule_id}` | {severity} |" in README, rule_id
