"""Clinical words are data: no drug of the bundled corpus and no indication id of the dose
reference is written as a string literal in the assistant's code.

A drug or an indication id in a .py file is a rule for one question. The words live in YAML
(assistant/data, guardrails/data) and are read in one place; the code holds mechanisms.
Comments and docstrings may name drugs (they explain); every other string constant,
f-string parts included, is checked.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

from corpus.loaders.open_medicine import load_open_medicine
from corpus.loaders.pack import load_bundled_packs
from guardrails.extraction import find_drugs
from guardrails.lexicon import drug_lexicon
from guardrails.reference import default_reference

ASSISTANT = Path(__file__).resolve().parents[2] / "assistant"

# Literals that still stand in the code: (file, word) -> how many times, and why. This list
# may only shrink: one more occurrence fails the test, and so does an entry that now occurs
# fewer times than it allows (lower it, or remove it).
ALLOWED: dict[tuple[str, str], tuple[int, str]] = {
    ("assistant/frame.py", "hit"): (
        1,
        "the patient fact Patient.hit as a key of the frame's JSON (a wire name, the same "
        "word as the indication id)",
    ),
}


@lru_cache(maxsize=1)
def corpus_drugs() -> frozenset[str]:
    """Every drug the drug lexicon finds in the bundled corpus, by its canonical name."""
    lexicon = drug_lexicon()
    names: set[str] = set()
    for result in (load_bundled_packs(), load_open_medicine()):
        for doc in result.documents:
            names.update(name for _, _, name in find_drugs(doc.text, lexicon))
    return frozenset(names)


def indication_ids() -> frozenset[str]:
    return frozenset(i.id for i in default_reference().indications)


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes of a module, its classes and functions."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and (
            body := node.body
        ):
            first = body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                out.add(id(first.value))
    return out


def _is_intent(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "intent") or (
        isinstance(node, ast.Name) and node.id == "intent"
    )


def _intent_names(tree: ast.AST) -> set[int]:
    """The ids of the constants that name a question intent (the frame's own vocabulary of
    answer kinds, one of which is also an indication id): those compared with an ``intent``
    (``frame.intent == "reversal"``, ``frame.intent in ("dose", "reversal")``), those of
    the ``Intent = Literal[...]`` type, and those set as an ``intent=`` or passed to
    ``intent_indication``."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(
            _is_intent(n) for n in (node.left, *node.comparators)
        ):
            for side in (node.left, *node.comparators):
                items = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
                out |= {id(i) for i in items if isinstance(i, ast.Constant)}
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "Intent" for t in node.targets
        ):
            out |= {id(n) for n in ast.walk(node.value) if isinstance(n, ast.Constant)}
        elif isinstance(node, ast.Call):
            # replace(frame, intent="reversal") and intent_indication("reversal", table)
            out |= {id(k.value) for k in node.keywords if k.arg == "intent"}
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name == "intent_indication" and node.args:
                out.add(id(node.args[0]))
    return out


def string_constants(source: str) -> list[tuple[int, str, bool]]:
    """(line, text, names an intent) of every str constant of ``source`` but its docstrings;
    the constant parts of f-strings are constants of the tree too."""
    tree = ast.parse(source)
    skip, intents = _docstrings(tree), _intent_names(tree)
    return [
        (node.lineno, node.value, id(node) in intents)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


def _drug_pattern(names: frozenset[str]) -> re.Pattern[str] | None:
    if not names:
        return None
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])(?:{alternatives})(?![a-z0-9])", re.IGNORECASE)


def _id_pattern(ids: frozenset[str]) -> re.Pattern[str] | None:
    # An id such as "hit" is also part of common words: only a whole token counts.
    if not ids:
        return None
    alternatives = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9-])(?:{alternatives})(?![a-z0-9-])")


def literals_in(
    source: str, drugs: frozenset[str], ids: frozenset[str]
) -> list[tuple[int, str, str]]:
    """(line, kind, word) for every drug name or indication id in ``source``'s literals."""
    drug, ind = _drug_pattern(drugs), _id_pattern(ids)
    found = []
    for line, text, intent in string_constants(source):
        if drug is not None:
            found += [(line, "drug", m.group().lower()) for m in drug.finditer(text)]
        if ind is not None and not intent:
            found += [(line, "indication id", m.group()) for m in ind.finditer(text)]
    return found


def offenders() -> list[tuple[str, int, str, str]]:
    drugs, ids = corpus_drugs(), indication_ids()
    out = []
    for path in sorted(ASSISTANT.rglob("*.py")):
        rel = path.relative_to(ASSISTANT.parent).as_posix()
        for line, kind, word in literals_in(path.read_text(encoding="utf-8"), drugs, ids):
            out.append((rel, line, kind, word))
    return out


def test_the_check_sees_the_corpus() -> None:
    # An empty word list would make the check pass on anything.
    drugs = corpus_drugs()
    assert len(drugs) >= 20
    assert len(indication_ids()) >= 10


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('x = "give zorbamab now"', [(1, "drug", "zorbamab")]),
        ('x = f"{a} ZORBAMAB"', [(1, "drug", "zorbamab")]),
        ('x = "zorbamab-induced rash"', [(1, "drug", "zorbamab")]),
        ('x = "zorbamabs"', []),
        ('"""zorbamab in a module docstring."""\n', []),
        ('def f():\n    """zorbamab."""\n    return 1\n', []),
        ("class C:\n    'zorbamab.'\n", []),
        ("# zorbamab in a comment\nx = 1\n", []),
        ('x = 1\n"zorbamab in a bare string"\n', [(2, "drug", "zorbamab")]),
        ('x = "wombat-use"', [(1, "indication id", "wombat-use")]),
        ('x = f"{a}|wombat-use"', [(1, "indication id", "wombat-use")]),
        ('x = "wombat-use-child"', []),  # another, longer id, not this one
        ('x = "Wombat-use"', []),  # ids match exactly
        ('x = "nowombat-use"', []),
        # An intent of the same name as an indication is the frame's word, not the use's.
        ('if frame.intent == "wombat-use":\n    x = 1\n', []),
        ('ok = intent in ("dose", "wombat-use")', []),
        ('Intent = Literal["dose", "wombat-use"]', []),
        (
            'if frame.intent == "dose":\n    x = "wombat-use"\n',
            [(2, "indication id", "wombat-use")],
        ),
        ('ok = frame.indication == "wombat-use"', [(1, "indication id", "wombat-use")]),
    ],
)
def test_literals_in(source: str, expected: list[tuple[int, str, str]]) -> None:
    assert literals_in(source, frozenset({"zorbamab"}), frozenset({"wombat-use"})) == expected


def test_no_clinical_literals_in_the_assistant() -> None:
    found = offenders()
    counts = Counter((f, word) for f, _, _, word in found)
    new = [
        f"{f}:{line}: {kind} {word!r}"
        for f, line, kind, word in sorted(found)
        if counts[(f, word)] > ALLOWED.get((f, word), (0, ""))[0]
    ]
    assert not new, (
        "clinical words written in assistant code (put them in assistant/data or "
        "guardrails/data and read them there):\n" + "\n".join(new)
    )
    stale = {k: (n, counts[k]) for k, (n, _) in ALLOWED.items() if counts[k] < n}
    assert not stale, f"allowed literals now fewer (lower or remove them): {stale}"
