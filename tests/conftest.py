"""Shared fixtures: the fixture pack, a hash-embedder index built once, ../shared."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
SHARED = Path(os.environ.get("BEDSIDE_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Never read or write the user's ~/.bedside from a test.
    monkeypatch.setenv("BEDSIDE_HOME", str(tmp_path_factory.getbasetemp() / "home"))


@pytest.fixture(scope="session")
def fixture_pack() -> Path:
    return FIXTURES / "pack"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"shared data sets not found at {data}")
    return data


@pytest.fixture(scope="session")
def hash_index(tmp_path_factory: pytest.TempPathFactory, fixture_pack: Path):  # type: ignore[no-untyped-def]
    from corpus.chunking import ChunkingSettings
    from retrieval.embedders import HashEmbedder
    from retrieval.indexing import build_from_sources
    from retrieval.settings import RetrievalSettings
    from retrieval.store import open_index

    index_dir = tmp_path_factory.mktemp("hash-index") / "index"
    build_from_sources(
        [f"pack:{fixture_pack}"],
        index_dir,
        embedder=HashEmbedder(),
        chunking=ChunkingSettings(),
        retrieval=RetrievalSettings(embedder="hash"),
    )
    return open_index(index_dir, HashEmbedder())


@pytest.fixture(scope="session")
def minilm():  # type: ignore[no-untyped-def]
    """The real MiniLM embedder as the settings make it (BEDSIDE_RETRIEVAL__PRECISION
    included), so the slow tests run in the precision a run asks for."""
    from assistant.settings import load_settings
    from retrieval.embedders import MiniLMEmbedder

    return MiniLMEmbedder(precision=load_settings().retrieval.precision)


@pytest.fixture(scope="session")
def default_index_dir(tmp_path_factory: pytest.TempPathFactory, minilm) -> Path:  # type: ignore[no-untyped-def]
    """The bundled default corpus (packs + open-medicine) indexed once with the real MiniLM:
    what `bedside ask` and `bedside serve` use on a fresh install."""
    from assistant.settings import load_settings
    from retrieval.indexing import ensure_index

    settings = load_settings("default")
    index_dir = tmp_path_factory.mktemp("default") / "index"
    report = ensure_index(
        settings.sources,
        index_dir,
        embedder=minilm,
        chunking=settings.corpus.chunking,
        retrieval=settings.retrieval,
    )
    assert report.built and report.problems == []
    assert report.manifest.counts.documents >= 49 + 43
    return index_dir


# Largest score difference between two runs of the same retrieval that still counts as the
# same result: bf16 and f32 MiniLM differ by up to 0.0015 (dense) and 0.0027 (hybrid, after
# min-max normalisation) on the fixture pack's questions; FAISS and pgvector by ~1e-7.
SCORE_TOL = 0.005


def _check_same_ranking(a: Sequence[Any], b: Sequence[Any], tol: float = SCORE_TOL) -> None:
    """Two rankings of passages (``id``, ``score``) agree: the same ids, each with a score
    within ``tol`` of the other's, in the same order, except that passages whose scores are
    within ``tol`` of each other may trade places (and of those at the cut-off, either may
    be the one kept)."""
    sa, sb = {p.id: p.score for p in a}, {p.id: p.score for p in b}
    for ranking, scores, other in ((a, sa, sb), (b, sb, sa)):
        cut = ranking[-1].score if ranking else 0.0
        lost = [i for i in scores if i not in other and scores[i] > cut + tol]
        assert not lost, f"ranked in one list only, above the cut-off: {lost}"
    common = [p.id for p in a if p.id in sb]
    far = {i: (sa[i], sb[i]) for i in common if abs(sa[i] - sb[i]) > tol}
    assert not far, f"scores differ by more than {tol}: {far}"
    order_b = {i: n for n, i in enumerate(p.id for p in b)}
    for n, first in enumerate(common):
        for later in common[n + 1 :]:
            if sa[first] - sa[later] > tol:
                assert order_b[first] < order_b[later], (
                    f"{first} ({sa[first]:.5f}) ranks above {later} ({sa[later]:.5f}) in one "
                    "list and below it in the other"
                )


@pytest.fixture(scope="session")
def same_ranking() -> Callable[..., None]:
    """``same_ranking(a, b, tol=SCORE_TOL)``: assert two rankings agree (ids and order
    exactly, scores within ``tol``), for rankings from different backends or runtimes."""
    return _check_same_ranking


def _tiny_onnx(target: Path) -> None:
    """A real ONNX network with MiniLM's inputs and output shape (384 per token) that
    embeds a token by its id modulo 16: what the runtimes load, in milliseconds."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from retrieval.onnx_export import INPUTS

    tokens = ["batch", "tokens"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, tokens) for n in INPUTS]
    table = np.random.default_rng(0).standard_normal((16, 384)).astype(np.float32)
    nodes = [
        helper.make_node("Mod", ["input_ids", "sixteen"], ["slot"]),
        helper.make_node("Gather", ["table", "slot"], ["rows"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["token_type_ids"], ["typef"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["maskf", "typef"], ["weight"]),
        helper.make_node("Unsqueeze", ["weight", "last"], ["weight3"]),
        helper.make_node("Mul", ["rows", "weight3"], ["last_hidden_state"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        inputs,
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [*tokens, 384])],
        [
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(np.array(16, dtype=np.int64), "sixteen"),
            numpy_helper.from_array(np.array([-1], dtype=np.int64), "last"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(target))


@pytest.fixture(scope="session")
def tiny_onnx() -> Callable[[Path], None]:
    """``tiny_onnx(path)`` writes a stand-in for the exported MiniLM (for export tests)."""
    return _tiny_onnx
