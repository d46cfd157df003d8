"""Protocol folder benchmark: index 20 protocol files, edit one, index again.

    python -m bench.protocol_rebuild [--docs 20] [--out bench/out/protocol_rebuild]

Writes the first ``--docs`` bundled pack documents into a folder as a hospital would keep
them — a third each as PDF (printed by headless Chromium), Word and intranet HTML, with a
``library.yaml`` that approves them — and builds an index of that folder (``dir:``) with
the configured embedder. Then one Word file is edited (a paragraph added) and the index is
built again, first incrementally (the default: unchanged chunks keep their vectors), then
with every chunk embedded again (``--full``), both over the same edited folder in the same
run. Prints (and writes to ``--out``/results.json) wall time (a build reads every file
again: the time reading them is shown apart), chunks embedded and chunks indexed per
second of wall time for each build; timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from assistant.settings import load_settings
from corpus.loaders import load_sources
from corpus.loaders.pack import load_bundled_packs
from evals.roundtrip import print_pdfs, render_docx, render_html
from retrieval.embedders import get_embedder
from retrieval.indexing import build_from_sources

FORMATS = ("pdf", "docx", "html")


def write_folder(folder: Path, n: int) -> list[str]:
    """The first ``n`` pack documents as files of the three kinds, and a library.yaml."""
    docs = sorted(load_bundled_packs().documents, key=lambda d: d.id)[:n]
    folder.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    pdfs: list[tuple[str, Path]] = []
    for i, doc in enumerate(docs):
        fmt = FORMATS[i % len(FORMATS)]
        path = folder / f"{doc.id}.{fmt}"
        if fmt == "pdf":
            pdfs.append((render_html(doc.text, doc.title), path))
        elif fmt == "docx":
            render_docx(doc.text, doc.title, path)
        else:
            path.write_text(render_html(doc.text, doc.title), encoding="utf-8")
        names.append(path.name)
    print_pdfs(pdfs)
    entries = "".join(
        f"  {name}:\n    status: approved\n    approved: 2026-01-01\n    review_by: 2028-01-01\n"
        for name in names
    )
    (folder / "library.yaml").write_text(
        f"defaults:\n  organisation: Example Hospital\ndocuments:\n{entries}", encoding="utf-8"
    )
    return names


def edit_one(folder: Path, names: list[str]) -> str:
    """Add a paragraph to the first Word document (written again from its pack text)."""
    name = next(n for n in names if n.endswith(".docx"))
    doc = next(d for d in load_bundled_packs().documents if d.id == name.rsplit(".", 1)[0])
    text = doc.text + "\n\nThis paragraph was added by the benchmark's edit.\n"
    render_docx(text, doc.title, folder / name)
    return name


def build(folder: Path, index: Path, *, incremental: bool) -> dict[str, Any]:
    settings = load_settings()
    embedder = get_embedder(
        settings.retrieval.embedder, settings.models_dir, precision=settings.retrieval.precision
    )
    start = time.perf_counter()
    read = load_sources([f"dir:{folder}"])  # the files alone, timed apart
    reading = time.perf_counter() - start
    start = time.perf_counter()
    report = build_from_sources(
        [f"dir:{folder}"],
        index,
        embedder=embedder,
        chunking=settings.corpus.chunking,
        retrieval=settings.retrieval,
        incremental=incremental,
    )
    wall = time.perf_counter() - start
    assert len(read.documents) == report.manifest.counts.documents
    m = report.manifest
    embedded = m.counts.chunks if m.embedded is None else m.embedded
    return {
        "documents": m.counts.documents,
        "chunks": m.counts.chunks,
        "embedded": embedded,
        "wall_s": round(wall, 3),
        "reading_files_s": round(reading, 3),
        "chunks_per_s": round(m.counts.chunks / wall, 1),
        "problems": [str(p) for p in report.problems],
        "embedder": m.embedder_id,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("bench/out/protocol_rebuild"))
    args = parser.parse_args(argv)
    shutil.rmtree(args.out, ignore_errors=True)
    folder, index = args.out / "protocols", args.out / "index"
    names = write_folder(folder, args.docs)
    results: dict[str, Any] = {"files": len(names)}
    results["first"] = build(folder, index, incremental=True)
    results["edited"] = edit_one(folder, names)
    results["incremental"] = build(folder, index, incremental=True)
    results["full"] = build(folder, index, incremental=False)
    results["wall_ratio_incremental_to_full"] = round(
        results["incremental"]["wall_s"] / results["full"]["wall_s"], 3
    )
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    for key in ("first", "incremental", "full"):
        r = results[key]
        print(
            f"{key:12} {r['documents']} documents, {r['chunks']} chunks, {r['embedded']} "
            f"embedded, {r['wall_s']:.2f} s ({r['reading_files_s']:.2f} s of it reading the "
            f"files), {r['chunks_per_s']} chunks/s",
            file=sys.stdout,
        )
    print(
        f"edited {results['edited']}; incremental/full wall time "
        f"{results['wall_ratio_incremental_to_full']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
