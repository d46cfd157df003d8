"""Questions rewritten as people type them: several sentences, a person's name, small talk
and a misspelling around the same question. Deterministic (seeded by the question id), so a
run can be repeated and compared; the judgments (gold documents, qrels) are kept as they are.

    python -m evals.wording --in ../shared/data/medicationqa/questions.jsonl \\
        --out bedside-eval/medicationqa-consumer.jsonl
    bedside eval --questions bedside-eval/medicationqa-consumer.jsonl --source jsonl:...
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

NAMES = ("Margaret", "Ahmed", "Priya", "Tomasz", "Grace", "Luis", "Ingrid", "Kwame")
OPENERS = (
    "Hi, my name is {name} and I hope someone can help me.",
    "Hello. I am writing for my mother, {name}, who is 78.",
    "Good evening, this is {name}.",
    "Sorry to bother you, my husband {name} asked me to write this.",
)
CONTEXT = (
    "I was at the pharmacy yesterday and nobody could really tell me.",
    "My doctor was very busy and I forgot to ask during the visit.",
    "I read different things online and now I am confused.",
    "We have been worried about this for a couple of weeks.",
)
CLOSERS = (
    "Thank you so much for your time!",
    "Any advice is welcome, thanks.",
    "Thanks in advance.",
)
_WORD = re.compile(r"\b[a-z]{7,}\b")


def _pick(seq: tuple[str, ...], seed: int, salt: int) -> str:
    return seq[(seed >> (salt * 4)) % len(seq)]


def misspell(text: str, seed: int) -> str:
    """Swap two inner letters of one long lower-case word (a typing slip)."""
    words = list(_WORD.finditer(text))
    if not words:
        return text
    m = words[seed % len(words)]
    w = m.group()
    i = 1 + seed % (len(w) - 3)
    slip = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
    return text[: m.start()] + slip + text[m.end() :]


def consumer(question: str, key: str) -> str:
    """``question`` inside a several-sentence message with a name and a misspelling."""
    seed = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:12], 16)
    name = _pick(NAMES, seed, 0)
    parts = [
        _pick(OPENERS, seed, 1).format(name=name),
        _pick(CONTEXT, seed, 2),
        misspell(question.strip(), seed),
        _pick(CLOSERS, seed, 3),
    ]
    return " ".join(parts)


def rewrite(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    out["question"] = consumer(str(record["question"]), str(record["id"]))
    out["meta"] = {
        **(record.get("meta") or {}),
        "wording": "consumer",
        "original": record["question"],
    }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evals.wording", description=__doc__)
    p.add_argument("--in", dest="src", type=Path, required=True, help="question file (JSONL)")
    p.add_argument("--out", type=Path, required=True, help="where to write the reworded file")
    args = p.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with args.src.open(encoding="utf-8") as src, args.out.open("w", encoding="utf-8") as out:
        for line in src:
            if line.strip():
                out.write(json.dumps(rewrite(json.loads(line)), ensure_ascii=False) + "\n")
                n += 1
    print(f"wrote {n} reworded questions to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
