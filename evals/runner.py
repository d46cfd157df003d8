"""``bedside eval``: Bedside run headless over question sets, one result line per question.

Every question gets a full guarded answer (retrieve -> generate -> check) and, in the same
loop, each peer's ranking (evals/peers.py). Its line is appended to ``results.jsonl`` and
flushed before the next question starts, so an interrupted run keeps every finished answer;
``--resume`` drops a line cut short by the interruption, skips the ids already done and goes
on. ``summary.json`` and the reports (evals/report.py) are computed from ``results.jsonl``
alone, so a resumed run reports exactly like an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.pipeline import Assistant
from assistant.settings import Settings, load_settings
from assistant.types import Turn
from corpus.errors import BedsideError, ConfigError, InputError
from corpus.loaders import DEFAULT_SOURCES, load_sources, parse_source
from corpus.loaders.base import Problem
from corpus.types import Document
from evals.answer_metrics import must_have_coverage, precision_recall, score_answer
from evals.metrics import (
    dedupe_scored,
    gains,
    liveqa_score,
    mean,
    ndcg_at_k,
    percentile,
    recall_at_k,
    reciprocal_rank,
    relevant,
)
from evals.peers import PEER_NAMES, Peer, build_peers
from evals.questions import EvalQuestion, load_questions
from evals.retrieval_quality import eval_index_dir, retrieval_query
from retrieval.hybrid import HybridRetriever, Mode
from retrieval.types import Passage

RESULTS, SUMMARY, RUN = "results.jsonl", "summary.json", "run.json"
BEDSIDE = "bedside"  # the system name of Bedside hybrid + answers in every table
SEARCH_DEPTH = 50  # chunks: what the pipeline's retrieve stage asks for (assistant/pipeline.py)
CUTOFFS = (1, 5, 10)
Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(f"bedside: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ question sets


@dataclass(frozen=True, slots=True)
class QuestionSet:
    name: str
    path: Path
    sha256: str
    questions: tuple[EvalQuestion, ...]
    problems: tuple[Problem, ...]
    total: int  # questions in the file, before --limit


def set_name(path: Path) -> str:
    """``.../bioasq/questions.jsonl`` -> ``bioasq``; ``anticoagulation.jsonl`` -> its stem."""
    return path.parent.name if path.stem == "questions" and path.parent.name else path.stem


def load_sets(paths: Sequence[Path], limit: int | None = None) -> list[QuestionSet]:
    sets: list[QuestionSet] = []
    names: Counter[str] = Counter()
    for path in paths:
        if not path.is_file():
            raise InputError(f"question file {path} does not exist")
        questions, problems = load_questions(path)
        base = set_name(path)
        names[base] += 1
        name = base if names[base] == 1 else f"{base}-{names[base]}"
        sets.append(
            QuestionSet(
                name=name,
                path=path,
                sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                questions=tuple(questions[:limit] if limit else questions),
                problems=tuple(problems),
                total=len(questions),
            )
        )
    return sets


# ------------------------------------------------------------------ results file


def read_results(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of a results file and what had to be dropped: a last line cut short by an
    interruption, an unreadable line, or a repeated (set, id)."""
    if not path.is_file():
        return [], []
    records: list[dict[str, Any]] = []
    dropped: list[str] = []
    seen: set[tuple[str, str]] = set()
    raw_lines = path.read_bytes().split(b"\n")
    for lineno, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
            key = (str(record["set"]), str(record["id"]))
        except (UnicodeDecodeError, ValueError, KeyError, TypeError):
            last = lineno == len(raw_lines)
            dropped.append(
                f"{path}:{lineno}: "
                + ("last line cut short (interrupted run)" if last else "unreadable result line")
            )
            continue
        if key in seen:
            dropped.append(f"{path}:{lineno}: question {key[1]!r} of {key[0]} repeated")
            continue
        seen.add(key)
        records.append(record)
    if raw_lines and raw_lines[-1].strip() and not dropped:
        dropped.append(f"{path}:{len(raw_lines)}: no newline at the end")
    return records, dropped


def write_results(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Rewrite a results file whole (atomically): used to repair it before resuming."""
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# ------------------------------------------------------------------ one question


class RecordingRetriever(HybridRetriever):
    """Bedside's retriever, keeping the ranking of the first search since ``last`` was
    cleared: the pipeline's own retrieve stage is what the Bedside row of the retrieval table
    measures, not a later look-up of the same answer (the asked drug's doses, for the
    coverage check)."""

    last: list[Passage] | None = None

    def search(self, query: str, k: int | None = None, mode: Mode = "hybrid") -> list[Passage]:
        hits = super().search(query, k, mode)
        if self.last is None:
            self.last = hits
        return hits


def _round(x: float) -> float:
    return round(float(x), 6)


def ranking(hits: Iterable[tuple[str, float]], depth: int) -> list[tuple[str, float]]:
    return dedupe_scored(hits)[:depth]


def retrieval_metrics(
    ranked: Sequence[tuple[str, float]], q: EvalQuestion, k: int
) -> dict[str, Any] | None:
    """Document-level metrics of one ranking; None when the question has no judgments."""
    rel = relevant(q.gold_doc_ids, q.qrels)
    if not rel and not q.qrels:
        return None
    ids = [d for d, _ in ranked]
    scores = [s for _, s in ranked]
    out: dict[str, Any] = {f"recall@{c}": _round(recall_at_k(ids, rel, c)) for c in CUTOFFS}
    out["mrr"] = _round(reciprocal_rank(ids, rel, k))
    out["ndcg@10"] = _round(ndcg_at_k(ids, gains(q.gold_doc_ids, q.qrels), 10, scores))
    out["ndcg@1"] = _round(ndcg_at_k(ids, gains(q.gold_doc_ids, q.qrels), 1, scores))
    out["recall_curve"] = [_round(recall_at_k(ids, rel, c)) for c in range(1, k + 1)]
    out["liveqa"] = liveqa_score(ids[0] if ids else None, q.qrels) if q.qrels else None
    return out


def _ranked_json(ranked: Sequence[tuple[str, float]]) -> list[dict[str, Any]]:
    return [{"doc_id": d, "score": _round(s)} for d, s in ranked]


def _from_json(ranked: Sequence[dict[str, Any]]) -> list[tuple[str, float]]:
    return [(str(r["doc_id"]), float(r["score"])) for r in ranked]


@dataclass
class Context:
    """What every question of a run is evaluated with."""

    assistant: Assistant
    recorder: RecordingRetriever
    peers: list[Peer]
    k: int
    chunk_texts: dict[str, str] = field(default_factory=dict)

    @property
    def depth(self) -> int:
        """Documents kept per ranking: enough for recall@10, nDCG@10 and the curve to k."""
        return max(self.k, max(CUTOFFS))


def evaluate_question(ctx: Context, qset: str, q: EvalQuestion) -> dict[str, Any]:
    """One question of set ``qset`` -> one results.jsonl record (fields: docs/EVAL.md)."""
    record: dict[str, Any] = {"set": qset, "id": q.id, "question": q.question}
    history = [Turn(t.role, t.content) for t in q.history]
    ctx.recorder.last = None
    try:
        answer = ctx.assistant.ask(q.question, history)
    except BedsideError as exc:
        record.update(error=str(exc), abstained=True, peers={})
        record["metrics"] = {
            "retrieval": None,
            "answer": {"unanswerable": q.unanswerable, "label_gold": q.answer_label},
            "safety": None,
        }
        return record
    passages: list[Passage] = ctx.recorder.last or []
    ranked = ranking(((p.doc.id, p.score) for p in passages), ctx.depth)
    scored = score_answer(answer, q.must_have, lambda cid: ctx.chunk_texts.get(cid, ""))
    retrieval = retrieval_metrics(ranked, q, ctx.k)
    if retrieval is not None and q.qrels:
        retrieval["liveqa"] = liveqa_score(scored.top_doc, q.qrels)  # the answer's document
    lead_ndcg = None
    if retrieval is not None and not answer.abstained and scored.top_doc:
        # The document the answer leads with, judged like a ranking of one.
        lead_ndcg = _round(ndcg_at_k([scored.top_doc], gains(q.gold_doc_ids, q.qrels), 1, [1.0]))
    findings = answer.verdict.findings
    record.update(
        error=None,
        abstained=answer.abstained,
        abstention_reason=answer.abstention_reason,
        markdown=answer.markdown,
        citations=[
            {
                "number": c.number,
                "doc_id": c.passage.doc.id,
                "chunk_id": c.passage.chunk.id,
                "quote": c.quote,
                "quote_start": c.quote_start,
                "quote_end": c.quote_end,
            }
            for c in answer.citations
        ],
        retrieved=_ranked_json(ranked),
        verdict={
            "allowed": answer.verdict.allowed,
            "checked_doses": answer.verdict.checked_doses,
            "findings": [f.to_json() for f in findings],
        },
        withheld=[
            {
                "text": w.statement.text,
                "why": w.why,
                "reasons": list(w.reasons),
                "replacement": w.replacement,
            }
            for w in answer.withheld
        ],
        latency_ms=dict(answer.timings_ms),
        settings_digest=answer.settings_digest,
        index_digest=answer.index_digest,
    )
    record["metrics"] = {
        "retrieval": retrieval,
        "answer": {
            "must_have": None if q.unanswerable else scored.must_have,
            # the matcher's ceiling: how much of the must-haves the reference answer covers
            "must_have_reference": None
            if q.unanswerable or not q.reference_answer
            else must_have_coverage(q.must_have, q.reference_answer),
            "citations": scored.citations,
            "citations_exact": scored.citations_exact,
            "numbers": scored.numbers,
            "numbers_ungrounded": scored.numbers_ungrounded,
            "shown": scored.shown,
            "unanswerable": q.unanswerable,
            "label": scored.label,
            "label_gold": q.answer_label,
            "top_doc": scored.top_doc,
            "lead_ndcg@1": lead_ndcg,
            "top_hit_ndcg@1": None
            if lead_ndcg is None or retrieval is None
            else retrieval["ndcg@1"],
        },
        "safety": {
            "findings": len(findings),
            "blocking": sum(f.severity == "block" for f in findings),
            "by_rule": dict(Counter(f.rule_id for f in findings)),
            "blocked": not answer.verdict.allowed,
            "withheld": len(answer.withheld),
            "checked_doses": answer.verdict.checked_doses,
        },
    }
    peers: dict[str, Any] = {}
    query = retrieval_query(q)
    for peer in ctx.peers:
        t = time.perf_counter()
        hits = peer.search(query, max(SEARCH_DEPTH, 5 * ctx.depth))
        latency = (time.perf_counter() - t) * 1000
        peer_ranked = ranking(hits, ctx.depth)
        peers[peer.name] = {
            "retrieved": _ranked_json(peer_ranked),
            "latency_ms": round(latency, 2),
            "retrieval": retrieval_metrics(peer_ranked, q, ctx.k),
        }
    record["peers"] = peers
    return record


# ------------------------------------------------------------------ summary


def _dist(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 2),
        "p95": round(percentile(values, 95), 2),
        "mean": round(mean(values), 2),
    }


def _retrieval_summary(
    metrics: Sequence[dict[str, Any]], latencies: Sequence[float], k: int
) -> dict[str, Any]:
    out: dict[str, Any] = {"questions": len(metrics)}
    for key in [f"recall@{c}" for c in CUTOFFS] + ["mrr", "ndcg@10"]:
        out[key] = _round(mean([m[key] for m in metrics])) if metrics else None
    out["recall_curve"] = [
        _round(mean([m["recall_curve"][i] for m in metrics if len(m["recall_curve"]) > i]))
        for i in range(k if metrics else 0)
    ]
    live = [m["liveqa"] for m in metrics if m.get("liveqa") is not None]
    out["liveqa_avg_score"] = _round(mean(live)) if live else None
    out["latency_ms"] = _dist(latencies)
    return out


def summarise_set(
    name: str, records: Sequence[dict[str, Any]], k: int, peers: Sequence[str]
) -> dict[str, Any]:
    ok = [r for r in records if not r.get("error")]
    out: dict[str, Any] = {"questions": len(records), "errors": len(records) - len(ok)}

    # retrieval: Bedside (the pipeline's own retrieve stage) and each peer
    systems: dict[str, Any] = {}
    judged = [r for r in ok if r["metrics"]["retrieval"] is not None]
    systems[BEDSIDE] = _retrieval_summary(
        [r["metrics"]["retrieval"] for r in judged],
        [r["latency_ms"]["retrieve"] for r in ok if "retrieve" in r["latency_ms"]],
        k,
    )
    for peer in peers:
        have = [r["peers"][peer] for r in ok if peer in r.get("peers", {})]
        if not have:
            continue
        systems[peer] = _retrieval_summary(
            [p["retrieval"] for p in have if p["retrieval"] is not None],
            [p["latency_ms"] for p in have],
            k,
        )
    out["retrieval"] = systems

    # answers
    am = [r["metrics"]["answer"] for r in ok]
    answered = [r for r in ok if not r["abstained"]]
    answer: dict[str, Any] = {
        "questions": len(ok),
        "abstained": sum(r["abstained"] for r in ok),
        "abstention_rate": _round(mean([float(r["abstained"]) for r in ok])),
        # Not abstained, yet nothing shown: neither an abstention nor a led answer.
        "shown_nothing": sum(
            not r["abstained"] and not r["metrics"]["answer"].get("shown") for r in ok
        ),
    }
    lead = [m for m in am if m.get("lead_ndcg@1") is not None]
    answer["lead_ndcg@1"] = _round(mean([m["lead_ndcg@1"] for m in lead])) if lead else None
    answer["top_hit_ndcg@1"] = _round(mean([m["top_hit_ndcg@1"] for m in lead])) if lead else None
    answer["lead_judged"] = len(lead)
    cover = [m["must_have"] for m in am if m.get("must_have") is not None]
    answer["must_have_questions"] = len(cover)
    answer["must_have_coverage"] = _round(mean(cover)) if cover else None
    ceiling = [m["must_have_reference"] for m in am if m.get("must_have_reference") is not None]
    answer["must_have_reference_coverage"] = _round(mean(ceiling)) if ceiling else None
    citations = sum(m["citations"] for m in am)
    answer["citations"] = citations
    answer["citation_exactness"] = (
        _round(sum(m["citations_exact"] for m in am) / citations) if citations else None
    )
    numbers = sum(m["numbers"] for m in am)
    bad = sum(m["numbers_ungrounded"] for m in am)
    answer["numbers"] = numbers
    answer["numbers_ungrounded"] = bad
    answer["number_grounding"] = _round(1 - bad / numbers) if numbers else None
    with_text = [m for m in am if m["shown"]]
    answer["answers_fully_grounded"] = (
        _round(mean([float(m["numbers_ungrounded"] == 0) for m in with_text]))
        if with_text
        else None
    )
    all_am = [r["metrics"]["answer"] for r in records]
    if any(m.get("unanswerable") for m in all_am):
        flags = [
            (bool(r["abstained"]), bool(r["metrics"]["answer"]["unanswerable"])) for r in records
        ]
        precision, recall = precision_recall([f[0] for f in flags], [f[1] for f in flags])
        answer["unanswerable"] = sum(f[1] for f in flags)
        answer["abstention_precision"] = _round(precision)
        answer["abstention_recall"] = _round(recall)
    labelled = [m for m in am if m.get("label_gold")]
    if labelled:
        gold = Counter(m["label_gold"] for m in labelled)
        majority, count = gold.most_common(1)[0]
        answer["label_questions"] = len(labelled)
        answer["label_agreement"] = _round(
            mean([float(m["label"] == m["label_gold"]) for m in labelled])
        )
        answer["label_majority_class"] = majority
        answer["label_majority_baseline"] = _round(count / len(labelled))
        answer["label_gold_counts"] = dict(gold)
        answer["label_predicted_counts"] = dict(Counter(m["label"] for m in labelled))
    live = [
        r["metrics"]["retrieval"]["liveqa"]
        for r in ok
        if r["metrics"]["retrieval"] and r["metrics"]["retrieval"].get("liveqa") is not None
    ]
    answer["liveqa_avg_score"] = _round(mean(live)) if live else None
    out["answer"] = answer

    # safety
    sm = [r["metrics"]["safety"] for r in answered]
    rules: Counter[str] = Counter()
    for m in sm:
        rules.update(m["by_rule"])
    out["safety"] = {
        "answers": len(sm),
        "findings": sum(m["findings"] for m in sm),
        "findings_per_answer": _round(mean([m["findings"] for m in sm])) if sm else None,
        "blocked_answers": sum(m["blocked"] for m in sm),
        "block_rate": _round(mean([float(m["blocked"]) for m in sm])) if sm else None,
        "withheld_statements": sum(m["withheld"] for m in sm),
        "checked_doses": sum(m["checked_doses"] for m in sm),
        "by_rule": dict(rules.most_common()),
    }

    # latency per stage of the pipeline
    stages: dict[str, list[float]] = {}
    for r in ok:
        for stage, ms in r["latency_ms"].items():
            stages.setdefault(stage, []).append(float(ms))
    out["latency_ms"] = {stage: _dist(v) for stage, v in stages.items()}
    return out


# ------------------------------------------------------------------ the run


@dataclass(frozen=True, slots=True)
class RunConfig:
    question_files: tuple[Path, ...]
    out: Path
    preset: str | None = None
    sources: tuple[str, ...] = ()
    index_dir: Path | None = None
    k: int = 10
    limit: int | None = None
    peers: tuple[str, ...] = PEER_NAMES
    resume: bool = False
    overwrite: bool = False
    mutations: bool = False


def command_line(cfg: RunConfig) -> str:
    """The command that reproduces this run."""
    parts = ["bedside", "eval"]
    for path in cfg.question_files:
        parts += ["--questions", str(path)]
    if cfg.index_dir:
        parts += ["--index-dir", str(cfg.index_dir)]
    for source in cfg.sources:
        parts += ["--source", source]
    if cfg.preset:
        parts += ["--config", cfg.preset]
    parts += ["--out", str(cfg.out), "--k", str(cfg.k)]
    if cfg.limit:
        parts += ["--limit", str(cfg.limit)]
    parts += ["--peers", ",".join(cfg.peers) or "none"]
    if cfg.mutations:
        parts.append("--mutations")
    return shlex.join(parts)


def corpus_name(sources: Sequence[str]) -> str:
    """The name of a corpus' cached eval index: ``default-corpus`` for the default sources,
    the data set for a single ``jsonl:<set>/docs.jsonl``, else a hash of the sources."""
    if tuple(sources) == DEFAULT_SOURCES:
        return "default-corpus"
    if len(sources) == 1:
        spec = parse_source(sources[0])
        if spec.kind == "jsonl" and spec.path is not None:
            path = spec.path
            return path.parent.name if path.name == "docs.jsonl" else path.stem
    digest = hashlib.sha256("\n".join(sorted(sources)).encode()).hexdigest()[:10]
    return f"sources-{digest}"


def machine() -> dict[str, Any]:
    import psutil

    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
    }


def memory() -> dict[str, float]:
    import psutil

    rss = psutil.Process().memory_info().rss / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"rss_mb": round(rss, 1), "peak_rss_mb": round(max(peak, rss), 1)}


def _tqdm_progress() -> Callable[[str, int, int], None]:
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=f"{stage:>10}", file=sys.stderr)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return progress


def _settings(cfg: RunConfig) -> tuple[Settings, bool]:
    """Settings for the run and whether the index may be (re)built from its sources."""
    overrides: dict[str, Any] = {}
    if cfg.sources:
        overrides["sources"] = list(cfg.sources)
    if cfg.index_dir is not None:
        # An explicit index without sources is served as built, like `bedside ask`.
        settings = load_settings(cfg.preset, index_dir=cfg.index_dir, **overrides)
        return settings, bool(cfg.sources)
    # Otherwise one cached index per corpus and embedder, shared with
    # evals/retrieval_quality.py and apart from the index `bedside ask` serves.
    settings = load_settings(cfg.preset, **overrides)
    index_dir = eval_index_dir(settings, corpus_name(settings.sources))
    return load_settings(cfg.preset, index_dir=index_dir, **overrides), True


ANSWERING_PACKAGES = ("corpus", "retrieval", "guardrails", "assistant")


def code_digest() -> str:
    """Short hash of the code and data that turn a question into an answer (every file of
    corpus/, retrieval/, guardrails/ and assistant/: sources, packs, reference YAML, presets).
    A settings digest cannot see a changed generator; this can."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for package in ANSWERING_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".md", ".yaml", ".json"):
                h.update(path.relative_to(root).as_posix().encode() + b"\0")
                h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _check_resume(out: Path, run: dict[str, Any], done: Sequence[dict[str, Any]]) -> None:
    """Refuse to resume results produced by another configuration."""
    for key in ("settings_digest", "index_digest"):
        other = {r[key] for r in done if r.get(key) and r[key] != run[key]}
        if other:
            raise ConfigError(
                f"{out / RESULTS} holds answers made with {key.split('_')[0]} "
                f"{', '.join(sorted(other))}, this run has {run[key]}; resume with the same "
                "ones, or start over with --overwrite or another --out"
            )
    try:
        before = json.loads((out / RUN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # no run.json: the records' own digests were checked above
    for key, what in (
        ("settings_digest", "settings"),
        ("code_digest", "code (corpus/, retrieval/, guardrails/, assistant/)"),
        ("index_digest", "index"),
        ("k", "--k"),
        ("peers", "--peers"),
    ):
        if before.get(key) != run[key]:
            raise ConfigError(
                f"{out / RESULTS} was produced with other {what} ({before.get(key)} there, "
                f"{run[key]} now); resume with the same ones, or start over with --overwrite "
                "or another --out"
            )


def run_eval(
    cfg: RunConfig,
    *,
    log: Log = _stderr,
    progress: bool = True,
    after_each: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) an evaluation; returns the summary, also written to ``cfg.out``.

    ``after_each`` is called with each record once it is on disk (tests use it to stop a run
    part way, as an interruption would)."""
    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    if cfg.k < 1:
        raise ConfigError(f"--k must be at least 1 (got {cfg.k})")
    sets = load_sets(cfg.question_files, cfg.limit)
    for qs in sets:
        for problem in qs.problems:
            log(f"skipped {problem}")
    if not any(qs.questions for qs in sets):
        raise InputError(
            "no question could be read from "
            + ", ".join(str(qs.path) for qs in sets)
            + " (each line: one JSON object with at least id and question)"
        )

    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / RESULTS
    done, dropped = read_results(results_path)
    if done and not cfg.resume and not cfg.overwrite:
        raise ConfigError(
            f"{results_path} already holds {len(done)} results; pass --resume to continue that "
            "run, or --overwrite to start over"
        )
    if cfg.overwrite:
        done, dropped = [], []
        results_path.unlink(missing_ok=True)
    for note in dropped:
        log(f"dropped {note}")
    if dropped:
        write_results(results_path, done)

    settings, refresh = _settings(cfg)
    bars = _tqdm_progress() if progress else None
    assistant = Assistant.from_settings(settings, progress=bars, log=log, refresh=refresh)
    base = assistant.retriever
    recorder = RecordingRetriever(base.index, base.embedder, base.settings)
    assistant.retriever = recorder
    index = recorder.index
    manifest = index.manifest
    run = {
        "settings_digest": settings.digest(),
        "code_digest": code_digest(),
        "index_digest": manifest.digest(),
        "k": cfg.k,
        "peers": list(cfg.peers),
    }
    if cfg.resume and done:
        _check_resume(out, run, done)
    # run.json says what produced results.jsonl, from the first answer on: an interrupted
    # run is checked against it when resumed. Each invocation is logged as it goes.
    history = _invocations(out) if cfg.resume and done else []
    this: dict[str, Any] = {"started_at": started_at, "answered": 0, "wall_s": 0.0}
    history.append(this)

    def save_run() -> None:
        this["wall_s"] = round(time.perf_counter() - started, 1)
        tmp = out / (RUN + ".tmp")
        tmp.write_text(json.dumps({**run, "invocations": history}, indent=2) + "\n", "utf-8")
        os.replace(tmp, out / RUN)

    save_run()

    def documents() -> list[Document]:
        sources = settings.sources if refresh else list(manifest.sources)
        return load_sources([parse_source(s) for s in sources]).documents

    corpus = corpus_name(list(manifest.sources) or settings.sources)
    index_cache = eval_index_dir(settings, corpus)
    peer_cache = index_cache.with_name(index_cache.name + ".llamaindex")
    peers = build_peers(cfg.peers, recorder, documents, peer_cache, progress=bars, log=log)

    ctx = Context(assistant, recorder, peers, cfg.k, {c.id: c.text for c in index.chunks})
    keys = {(str(r["set"]), str(r["id"])) for r in done}
    todo = [(qs.name, q) for qs in sets for q in qs.questions if (qs.name, q.id) not in keys]
    total = sum(len(qs.questions) for qs in sets)
    if cfg.resume and done:
        log(f"resuming: {total - len(todo)} of {total} questions already answered")

    from tqdm import tqdm

    bar = tqdm(
        total=total,
        initial=total - len(todo),
        desc="      eval",
        unit=" q",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    )
    with results_path.open("a", encoding="utf-8") as fh:
        for name, q in todo:
            record = evaluate_question(ctx, name, q)
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
            done.append(record)
            this["answered"] += 1
            save_run()
            bar.update(1)
            if after_each:
                after_each(record)
    bar.close()

    save_run()
    wall_s = this["wall_s"]

    chosen = selected(done, sets)
    mutations = None
    if cfg.mutations:
        log("running the guard mutation harness (evals/mutations.py) ...")
        mutations = mutation_rates()

    summary = {
        "command": command_line(cfg),
        "created_at": started_at,
        "machine": machine(),
        "settings_digest": run["settings_digest"],
        "code_digest": run["code_digest"],
        "config": cfg.preset or "default",
        "embedder": settings.retrieval.embedder,
        "index": {
            "digest": manifest.digest(),
            "corpus_hash": manifest.corpus_hash,
            "embedder_id": manifest.embedder_id,
            "dense_kind": manifest.dense_kind,
            "sources": list(manifest.sources),
            "documents": manifest.counts.documents,
            "chunks": manifest.counts.chunks,
        },
        "question_files": [
            {
                "set": qs.name,
                "path": str(qs.path),
                "sha256": qs.sha256,
                "questions": qs.total,
                "evaluated": len(qs.questions),
                "bad_lines": len(qs.problems),
            }
            for qs in sets
        ],
        "k": cfg.k,
        "peers": [p.name for p in peers],
        "peers_skipped": [p for p in cfg.peers if p not in {x.name for x in peers}],
        "wall_s": wall_s,
        "wall_s_all_invocations": round(sum(h["wall_s"] for h in history), 1),
        "invocations": len(history),
        **memory(),
        "sets": summarise_all(chosen, sets, cfg.k, [p.name for p in peers]),
    }
    if mutations is not None:
        summary["mutations"] = mutations
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")

    from evals.report import write_reports

    write_reports(summary, out, chosen)
    return summary


def selected(
    records: Sequence[dict[str, Any]], sets: Sequence[QuestionSet]
) -> list[dict[str, Any]]:
    """The records of exactly the questions of this selection, in question-file order."""
    by_key = {(str(r["set"]), str(r["id"])): r for r in records}
    return [
        by_key[(qs.name, q.id)] for qs in sets for q in qs.questions if (qs.name, q.id) in by_key
    ]


def summarise_all(
    records: Sequence[dict[str, Any]], sets: Sequence[QuestionSet], k: int, peers: Sequence[str]
) -> dict[str, Any]:
    """Per set (one record per question)."""
    return {
        qs.name: summarise_set(qs.name, [r for r in records if r["set"] == qs.name], k, peers)
        for qs in sets
    }


def _invocations(out: Path) -> list[dict[str, Any]]:
    try:
        before = json.loads((out / RUN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    history = before.get("invocations", [])
    return history if isinstance(history, list) else []


def mutation_rates() -> dict[str, Any]:
    """The guard mutation harness' rates (docs/GUARD_MUTATIONS.md has the full report)."""
    from evals import mutations

    report = mutations.run()
    return {
        "sentences": len(report.sentences),
        "mutants_scored": len(report.scored()),
        "detection_ref": _round(report.detection("ref")),
        "detection_cit": _round(report.detection("cit")),
        "false_positive_rate_ref": _round(report.fp_rate("ref")),
        "false_positive_rate_cit": _round(report.fp_rate("cit")),
        "targets": {
            "detection": mutations.TARGET_DETECTION,
            "false_positives": mutations.TARGET_FALSE_POSITIVES,
        },
        "meets_targets": mutations.meets_targets(report),
    }
