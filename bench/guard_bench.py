"""Guard benchmark: median time of ``guardrails.check`` on ~300-word answers.

    python -m bench.guard_bench [--answers 200] [--words 300] [--repeat 5] [--big-kb 200]

Answers are built (seeded) from the pack's own label and guideline sentences, so they read
like real answers. The extractor caches sentences it has read; the headline figure clears
that cache before every answer, and the cached figure is shown beside it. The baseline in the same run is plain regex tokenisation
(``re.findall(r"\\w+", text)``) of the same text: the ratio says how many tokenisations one
full check costs. A third figure checks each answer as the pipeline does: every sentence
cites its source passage (a ``SourceText`` with title and text), so numbers are grounded and
drugs resolved there. Last, one answer of ``--big-kb`` kilobytes is checked once. Timings are
printed, never asserted. Targets: median ≤ 5 ms per answer; a 200 KB answer ≤ 0.5 s.

The statement support check (``guardrails.support.support``) is timed per statement over the
generated-paraphrase mutation set (``evals/mutation_families.py``: each mutant and control
against its source sentence). Target: median ≤ 2 ms per statement.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time

from corpus.loaders.pack import load_bundled_packs
from corpus.text import sentence_spans
from guardrails.check import check
from guardrails.extraction import _extract_cached
from guardrails.reference import default_reference
from guardrails.types import SourceText

_WORD = re.compile(r"\w+")


Cited = tuple[str, dict[int, str], dict[str, SourceText]]


def _sentences() -> list[tuple[str, SourceText]]:
    out: list[tuple[str, SourceText]] = []
    for doc in load_bundled_packs().documents:
        if doc.source_type in ("label", "guideline"):
            source = SourceText(doc.text, doc.title, (), doc.id, doc.id)
            out.extend(
                (doc.text[s:e], source)
                for s, e in sentence_spans(doc.text)
                if not doc.text[s:e].startswith(("#", "|"))
            )
    return out


def build_cited(n: int, words: int, seed: int = 7) -> list[Cited]:
    """Answers of about ``words`` words, each sentence citing the document it came from."""
    sentences = _sentences()
    rng = random.Random(seed)
    answers = []
    for _ in range(n):
        parts: list[str] = []
        citations: dict[int, str] = {}
        passages: dict[str, SourceText] = {}
        count = 0
        while count < words:
            sentence, source = rng.choice(sentences)
            number = next(
                (k for k, v in citations.items() if v == source.doc_id), len(citations) + 1
            )
            citations[number] = source.doc_id
            passages[source.doc_id] = source
            parts.append(f"{sentence} [{number}]")
            count += len(sentence.split())
        answers.append(("\n".join(parts), citations, passages))
    return answers


def build_answers(n: int, words: int, seed: int = 7) -> list[str]:
    """The same answers without citation markers."""
    return [_MARK.sub("", text) for text, _, _ in build_cited(n, words, seed)]


_MARK = re.compile(r" \[\d+\]")


def median_ms(fn: object, texts: list[str], repeat: int, cold: bool = False) -> tuple[float, float]:
    per_text = []
    for text in texts:
        best = float("inf")
        for _ in range(repeat):
            if cold:
                _extract_cached.cache_clear()  # every sentence read afresh, as for a new answer
            t0 = time.perf_counter()
            fn(text)  # type: ignore[operator]
            best = min(best, time.perf_counter() - t0)
        per_text.append(best * 1000)
    per_text.sort()
    return statistics.median(per_text), per_text[int(0.95 * (len(per_text) - 1))]


def support_ms(repeat: int) -> tuple[int, float, float]:
    """(statements, median ms, p95 ms) of ``support`` over the paraphrase mutation set."""
    from evals.mutation_families import paraphrases
    from evals.mutations import dose_sentences, gold_sentences
    from guardrails.support import support

    pairs = [
        (p.text, p.sentence.text)
        for p in paraphrases(dose_sentences(default_reference()) + gold_sentences())
    ]
    support(*pairs[0])  # the word lists and the drug lexicon, once per process
    per = []
    for statement, quote in pairs:
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            support(statement, quote)
            best = min(best, time.perf_counter() - t0)
        per.append(best * 1000)
    per.sort()
    return len(per), statistics.median(per), per[int(0.95 * (len(per) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--answers", type=int, default=200)
    parser.add_argument("--words", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5, help="best of N per answer")
    parser.add_argument("--big-kb", type=int, default=200, help="size of the one large answer")
    args = parser.parse_args(argv)
    default_reference()  # load the reference once, as a server does
    cited = build_cited(args.answers, args.words)
    answers = build_answers(args.answers, args.words)
    check(answers[0])  # warm caches, compiled patterns and the drug lexicon
    words = statistics.median(len(a.split()) for a in answers)
    guard_p50, guard_p95 = median_ms(check, answers, args.repeat, cold=True)
    warm_p50, warm_p95 = median_ms(check, answers, args.repeat)
    by_text = {text: (c, p) for text, c, p in cited}
    cited_p50, cited_p95 = median_ms(
        lambda text: check(text, *by_text[text]), list(by_text), args.repeat, cold=True
    )
    regex_p50, regex_p95 = median_ms(_WORD.findall, answers, args.repeat)
    big = "\n".join(answers)
    while len(big.encode("utf-8")) < args.big_kb * 1024:
        big += "\n" + big
    big = big.encode("utf-8")[: args.big_kb * 1024].decode("utf-8", "ignore")
    _extract_cached.cache_clear()
    t0 = time.perf_counter()
    big_verdict = check(big)
    big_s = time.perf_counter() - t0
    doses = statistics.median(check(a).checked_doses for a in answers)
    print(f"{args.answers} answers, median {words:.0f} words and {doses:.0f} checked doses each")
    print("| stage | median ms | p95 ms |")
    print("|---|---|---|")
    print(f"| guardrails.check, sentences not seen before | {guard_p50:.2f} | {guard_p95:.2f} |")
    print(
        f"| guardrails.check, sentences cached (repeat answer) | {warm_p50:.2f} | {warm_p95:.2f} |"
    )
    print(
        f"| guardrails.check with every sentence cited (SourceText passages), not seen before | {cited_p50:.2f} | {cited_p95:.2f} |"
    )
    print(f"| regex tokenisation (baseline) | {regex_p50:.3f} | {regex_p95:.3f} |")
    n_support, support_p50, support_p95 = support_ms(args.repeat)
    print(
        f"| guardrails.support, per statement ({n_support} paraphrase mutants and controls) "
        f"| {support_p50:.3f} | {support_p95:.3f} |"
    )
    print(
        f"\nratio check / tokenisation (median): {guard_p50 / regex_p50:.0f}x; target median ≤ 5 ms: "
        f"{'met' if guard_p50 <= 5 else 'NOT met'}"
    )
    print(
        f"one answer of {len(big.encode('utf-8')) / 1024:.0f} KB ({big_verdict.checked_doses} doses): "
        f"{big_s:.3f} s; target ≤ 0.5 s: {'met' if big_s <= 0.5 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
