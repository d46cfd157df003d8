"""YAML read with libyaml's safe loader when PyYAML has it (about 10x the pure-Python
loader: the dose reference, the frame and evidence vocabularies and every pack's front
matter are read on each start)."""

from __future__ import annotations

from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` semantics (plain data only); raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_LOADER)
