"""assistant/ asks the retriever what ``retrieval.protocols.Retriever`` lists and never reads
the index behind it: no ``retriever.index``, no BM25 or document table, no import of the
lexical or dense index (or the libraries under them). The source is read, not run, so a
reach-in on a path no test exercises is found too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ASSISTANT = Path(__file__).resolve().parents[2] / "assistant"

# Attributes that belong to an index's inside, whatever object they are read from.
INSIDE = frozenset({"bm25", "docs", "dense"})
# Modules whose objects are the index's inside.
FORBIDDEN_IMPORTS = ("retrieval.bm25", "retrieval.dense", "faiss", "bm25s")


def _names(node: ast.expr) -> list[str]:
    """The names along an attribute chain, outermost last: ``self.retriever.index`` ->
    ["self", "retriever", "index"]."""
    out: list[str] = []
    while isinstance(node, ast.Attribute):
        out.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        out.append(node.id)
    return out[::-1]


def _forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f"{f}.") for f in FORBIDDEN_IMPORTS)


def reach_ins(source: str, filename: str = "<source>") -> list[str]:
    """Each place in ``source`` that reads an index's inside, as "line: what"."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Attribute):
            chain = _names(node)
            if node.attr == "index" and any("retriever" in n for n in chain[:-1]):
                found.append(f"{node.lineno}: {'.'.join(chain)}")
            elif node.attr in INSIDE:
                found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if _forbidden(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if _forbidden(node.module):
                found.append(f"{node.lineno}: from {node.module} import")
            elif node.module == "retrieval":
                found += [
                    f"{node.lineno}: from retrieval import {a.name}"
                    for a in node.names
                    if _forbidden(f"retrieval.{a.name}")
                ]
    return found


MODULES = sorted(ASSISTANT.rglob("*.py"))


def test_the_assistant_package_has_modules_to_read() -> None:
    assert {"pipeline.py", "abstention.py", "evidence.py"} <= {p.name for p in MODULES}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ASSISTANT)))
def test_no_assistant_module_reaches_into_the_index(path: Path) -> None:
    found = reach_ins(path.read_text(encoding="utf-8"), str(path))
    assert not found, (
        f"{path.relative_to(ASSISTANT.parent)} reads the index behind the retriever; ask "
        "the retriever instead (retrieval.protocols.Retriever): " + "; ".join(found)
    )


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("x = self.retriever.index.bm25", True),
        ("x = self.retriever.index", True),
        ("chunks = retriever.index.chunks", True),
        ("doc = assistant.retriever.index.docs[d]", True),
        ("digest = r.index.manifest.digest()", False),  # only a retriever's .index is judged
        ("doc = index.docs['a']", True),
        ("vocab = something.bm25", True),
        ("rows = idx.dense.search(v, 3)", True),
        ("from retrieval.bm25 import BM25Index", True),
        ("from retrieval.dense import DenseIndex", True),
        ("from retrieval import bm25", True),
        ("import faiss", True),
        ("import bm25s.tokenization", True),
        ("from bm25s import BM25", True),
        ("at = order.index(task)", False),  # list.index is no index
        ("doc = self.retriever.document(d)", False),
        ("chunks = self.retriever.chunks_of(d)", False),
        ("ok = self.retriever.knows('inr') and self.retriever.digest", False),
        ("from retrieval.protocols import Vocabulary", False),
        ("from retrieval.types import Passage", False),
        ("from .bm25 import x", False),  # relative: inside assistant/, not retrieval/
    ],
)
def test_the_reader_finds_reach_ins(source: str, caught: bool) -> None:
    assert bool(reach_ins(source)) is caught, reach_ins(source)


def generator_kind_tests(source: str) -> list[str]:
    """``isinstance(x, SomethingGenerator)`` calls: the pipeline asks a generator what it
    does (``quotes``) instead of testing which one it is."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "isinstance"
            and len(node.args) == 2
        ):
            kinds = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
            out += [
                f"line {node.lineno}: isinstance(..., {k.id})"
                for k in kinds
                if isinstance(k, ast.Name) and k.id.endswith("Generator")
            ]
    return out


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ASSISTANT)))
def test_no_assistant_module_tests_which_generator_it_has(path: Path) -> None:
    assert generator_kind_tests(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("isinstance(g, ExtractiveGenerator)", 1),
        ("isinstance(g, (OpenAICompatGenerator, int))", 1),
        ("isinstance(g, Draft)", 0),
        ("g.quotes and isinstance(x, str)", 0),
    ],
    ids=["one-kind", "in-a-tuple", "another-type", "asks-what-it-does"],
)
def test_the_reader_finds_generator_kind_tests(source: str, found: int) -> None:
    assert len(generator_kind_tests(source)) == found
