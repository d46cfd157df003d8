"""Structure benchmark: parse and read the units of every bundled document.

    python -m bench.structure_bench [--repeat 5]

Times ``parse_structure`` (its cache cleared before each pass) and ``units`` over the
bundled packs and open-medicine, and the chunker over the same documents for scale, then
counts blocks and units by kind. Best of ``--repeat`` passes. Timings are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from corpus.chunking import chunk_document
from corpus.loaders.open_medicine import load_open_medicine
from corpus.loaders.pack import load_bundled_packs
from corpus.structure import parse_structure, units
from corpus.types import Document


def _best(repeat: int, run: object) -> float:
    assert callable(run)
    times = []
    for _ in range(repeat):
        parse_structure.cache_clear()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    docs: list[Document] = list(load_bundled_packs().documents)
    docs += load_open_medicine().documents
    chars = sum(len(d.text) for d in docs)

    def parse_all() -> None:
        for d in docs:
            parse_structure(d.text)

    def parse_and_units() -> None:
        for d in docs:
            units(parse_structure(d.text), d.text)

    def chunk_all() -> None:
        for d in docs:
            chunk_document(d)

    t_parse = _best(args.repeat, parse_all)
    t_units = _best(args.repeat, parse_and_units)
    t_chunk = _best(args.repeat, chunk_all)
    blocks: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for d in docs:
        structure = parse_structure(d.text)
        blocks.update(type(b).__name__ for b in structure.blocks)
        kinds.update(u.kind for u in units(structure, d.text))
    print(f"documents: {len(docs)}  characters: {chars:,}")
    print(
        f"parse_structure:         {t_parse * 1000:8.1f} ms  ({chars / t_parse / 1e6:.2f} M chars/s)"
    )
    print(f"parse_structure + units: {t_units * 1000:8.1f} ms")
    print(f"chunk_document (parse included): {t_chunk * 1000:8.1f} ms")
    print("blocks: " + ", ".join(f"{k} {v}" for k, v in sorted(blocks.items())))
    print("units:  " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    print(f"units in all: {sum(kinds.values())}")


if __name__ == "__main__":
    main()
