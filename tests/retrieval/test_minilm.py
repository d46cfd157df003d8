"""The real embedder and a real FAISS index on disk (what a user meets)."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrieval.embedders import MiniLMEmbedder, get_embedder

pytestmark = pytest.mark.slow


def test_minilm_loads_offline_and_gives_unit_vectors(minilm: Any) -> None:
    emb = minilm
    vecs = emb.embed(
        [
            "argatroban dose in HIT",
            "argatroban dosing for heparin-induced thrombocytopenia",
            "knee replacement rehabilitation",
        ]
    )
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    sims = vecs @ vecs.T
    assert sims[0, 1] > sims[0, 2] + 0.2
    assert np.allclose(emb.embed(["argatroban dose in HIT"])[0], vecs[0], atol=1e-5)


def test_real_index_on_disk_ranks_the_bivalirudin_passage_first(
    tmp_path: Path, fixture_pack: Path, minilm: Any
) -> None:
    from corpus.chunking import ChunkingSettings
    from retrieval.hybrid import HybridRetriever
    from retrieval.indexing import build_from_sources
    from retrieval.settings import RetrievalSettings
    from retrieval.store import open_index

    emb = minilm
    build_from_sources(
        [f"pack:{fixture_pack}"],
        tmp_path / "idx",
        embedder=emb,
        chunking=ChunkingSettings(),
        retrieval=RetrievalSettings(),
    )
    assert (tmp_path / "idx" / "dense.faiss").stat().st_size > 384 * 4
    retriever = HybridRetriever(open_index(tmp_path / "idx", emb), emb)
    for mode in ("hybrid", "dense"):
        top = retriever.search(
            "What is the bivalirudin dose for heparin-induced thrombocytopenia?", k=3, mode=mode
        )
        assert top[0].doc.id == "fixture-bivalirudin", mode


def test_exported_and_torch_runtimes_agree_and_have_different_ids(minilm: Any) -> None:
    from retrieval.embedders import TorchMiniLMEmbedder

    texts = [
        "argatroban dose in HIT",
        "Apixaban 10 mg twice daily for 7 days, then 5 mg twice daily for VTE treatment.",
        "knee replacement rehabilitation",
    ]
    torch = TorchMiniLMEmbedder()
    b = torch.embed(texts)
    for embedder, floor in ((minilm, 0.999), (get_embedder("minilm-int8"), 0.97)):
        a = embedder.embed(texts)
        assert ((a * b).sum(axis=1) > floor).all(), embedder.id
        assert np.array_equal(np.argsort(-(a @ a.T), axis=1), np.argsort(-(b @ b.T), axis=1))
        assert embedder.id != torch.id and embedder.id.startswith(torch.id)


def test_questions_embedded_from_many_threads_match_one_thread(minilm: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    emb = minilm
    questions = [f"dose of drug number {i} in renal impairment" for i in range(24)]
    alone = [emb.embed([q])[0] for q in questions]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda q: emb.embed([q])[0], questions))
    assert all(np.allclose(x, y, atol=1e-6) for x, y in zip(alone, together, strict=True))


QUESTIONS = [
    "argatroban dose in HIT",
    "warfarin INR target",
    "bivalirudin renal impairment infusion",
    "heparin resistance antithrombin",
    "what is the dose",
]


def test_a_changed_precision_rebuilds_the_index_and_ranks_alike(
    tmp_path: Path, fixture_pack: Path, same_ranking: Any
) -> None:
    from corpus.chunking import ChunkingSettings
    from retrieval.embedders import _bf16_compiles
    from retrieval.hybrid import HybridRetriever
    from retrieval.indexing import ensure_index
    from retrieval.settings import RetrievalSettings
    from retrieval.store import open_index

    if not _bf16_compiles():
        pytest.skip("OpenVINO runs no bfloat16 on this CPU")
    index = tmp_path / "idx"
    searched = {}
    for precision in ("f32", "bf16"):
        emb = MiniLMEmbedder(precision=precision)
        settings = RetrievalSettings(precision=precision)
        report = ensure_index(
            [f"pack:{fixture_pack}"],
            index,
            embedder=emb,
            chunking=ChunkingSettings(),
            retrieval=settings,
        )
        assert report.built, precision
        if precision == "bf16":  # the f32 index is stale for the bf16 embedder
            assert report.reason.startswith("embedder changed"), report.reason
        assert report.manifest.embedder_id == emb.id and f"-{precision}-" in emb.id
        retriever = HybridRetriever(open_index(index, emb), emb, settings)
        searched[precision] = {
            (q, mode): retriever.search(q, k=20, mode=mode)
            for q in QUESTIONS
            for mode in ("dense", "hybrid")
        }
    for key, f32 in searched["f32"].items():
        same_ranking(f32, searched["bf16"][key])
