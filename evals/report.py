"""Reports of a ``bedside eval`` run: report.md and report.html with plots, and the
side-by-side comparison of two runs (``bedside eval compare RUN_A RUN_B``).

Everything is drawn from ``summary.json`` and ``results.jsonl``. Plots are matplotlib PNGs
(Agg backend, no display): written next to report.md and embedded in report.html as
base64, so the HTML file stands alone.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus.errors import InputError

SYSTEM_LABELS = {
    "bedside": "Bedside hybrid (pipeline)",
    "bm25": "BM25 alone (bm25s)",
    "dense": "dense alone",
    "llamaindex": "llama-index VectorStoreIndex",
}
PLOTS = {
    "recall_at_k.png": "Recall@k per set and system",
    "latency.png": "Latency per question",
    "per_set.png": "Per-set metrics",
}


@dataclass(frozen=True, slots=True)
class Table:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _ratio(x: float | None, base: float | None) -> str:
    if x is None or not base:
        return "–"
    return f"{x / base:.2f}×"


def _label(system: str) -> str:
    return SYSTEM_LABELS.get(system, system)


# ------------------------------------------------------------------ tables


def retrieval_table(name: str, s: dict[str, Any], k: int) -> Table:
    systems = s["retrieval"]
    base = systems.get("bedside", {})
    rows: list[tuple[str, ...]] = []
    for system, m in systems.items():
        lat = m["latency_ms"]
        rows.append(
            (
                _label(system),
                _f(m["questions"]),
                _f(m["recall@1"]),
                _f(m["recall@5"]),
                _f(m["recall@10"]),
                _f(m["mrr"]),
                _f(m["ndcg@10"]),
                _f(lat["p50"], 1),
                _f(lat["p95"], 1),
                _ratio(m["recall@10"], base.get("recall@10")),
                _ratio(m["mrr"], base.get("mrr")),
                _ratio(m["ndcg@10"], base.get("ndcg@10")),
                _ratio(lat["p50"], base.get("latency_ms", {}).get("p50")),
            )
        )
    live = any(m.get("liveqa_avg_score") is not None for m in systems.values())
    if live:
        headers_extra: tuple[str, ...] = ("LiveQA score",)
        rows = [
            (*row, _f(m.get("liveqa_avg_score")))
            for row, m in zip(rows, systems.values(), strict=True)
        ]
    else:
        headers_extra = ()
    note = (
        "Bedside: the ranking of the pipeline's own retrieve stage (50 chunks, fused) and its "
        "latency; peers: the same questions over the same documents, retrieval only."
    )
    if not base.get("questions"):
        note = (
            "No question of this set has gold documents or graded judgments: retrieval is not "
            "scored here, only its latency."
        )
    return Table(
        f"{name}: retrieval, document level",
        (
            "system",
            "judged q",
            "recall@1",
            "recall@5",
            "recall@10",
            f"MRR@{k}",
            "nDCG@10",
            "p50 ms",
            "p95 ms",
            "recall@10 / Bedside",
            "MRR / Bedside",
            "nDCG / Bedside",
            "p50 / Bedside",
            *headers_extra,
        ),
        tuple(rows),
        note,
    )


def answer_table(name: str, s: dict[str, Any]) -> Table:
    a = s["answer"]
    rows: list[tuple[str, str]] = [
        ("questions answered or abstained", _f(a["questions"])),
        ("abstained", f"{_f(a['abstained'])} ({_f(a['abstention_rate'])})"),
    ]
    if a.get("shown_nothing") is not None:
        rows.append(("not abstained, yet no statement shown", _f(a["shown_nothing"])))
    if a.get("lead_ndcg@1") is not None:
        rows.append(
            (
                f"nDCG@1 of the document the answer leads with / of the retriever's top hit "
                f"({a['lead_judged']} answered, judged questions)",
                f"{_f(a['lead_ndcg@1'])} / {_f(a['top_hit_ndcg@1'])}",
            )
        )
    if a.get("must_have_coverage") is not None:
        rows.append(
            (
                f"must-have coverage ({a['must_have_questions']} questions)",
                _f(a["must_have_coverage"]),
            )
        )
    if a.get("must_have_reference_coverage") is not None:
        rows.append(
            (
                "must-have coverage of the set's own reference answer (the matcher's ceiling)",
                _f(a["must_have_reference_coverage"]),
            )
        )
    rows.append(
        (f"citation exactness ({_f(a['citations'])} citations)", _f(a["citation_exactness"]))
    )
    rows.append(
        (
            f"number grounding ({_f(a['numbers'])} numbers, {_f(a['numbers_ungrounded'])} ungrounded)",
            _f(a["number_grounding"]),
        )
    )
    rows.append(("answers with every number grounded", _f(a["answers_fully_grounded"])))
    if "abstention_precision" in a:
        rows.append(
            (
                f"abstention precision / recall ({a['unanswerable']} unanswerable)",
                f"{_f(a['abstention_precision'])} / {_f(a['abstention_recall'])}",
            )
        )
    if "label_agreement" in a:
        predicted = ", ".join(f"{k} {v}" for k, v in sorted(a["label_predicted_counts"].items()))
        rows.append(
            (
                f"yes/no/maybe agreement ({a['label_questions']} labelled; predicted {predicted})",
                _f(a["label_agreement"]),
            )
        )
        rows.append(
            (
                f"majority-class baseline (always “{a['label_majority_class']}”)",
                _f(a["label_majority_baseline"]),
            )
        )
    if a.get("liveqa_avg_score") is not None:
        rows.append(("LiveQA-style average score (0-3)", _f(a["liveqa_avg_score"])))
    return Table(f"{name}: answers", ("measure", "value"), tuple(rows))


def safety_table(name: str, s: dict[str, Any]) -> Table:
    g = s["safety"]
    rules = ", ".join(f"{r} {n}" for r, n in g["by_rule"].items()) or "none"
    rows = (
        ("answers checked (not abstained)", _f(g["answers"])),
        ("guard findings per answer", _f(g["findings_per_answer"], 2)),
        ("doses checked", _f(g["checked_doses"])),
        (
            "block rate (answers with a blocking finding)",
            f"{_f(g['block_rate'])} ({_f(g['blocked_answers'])})",
        ),
        ("statements withheld", _f(g["withheld_statements"])),
        ("findings by rule", rules),
    )
    return Table(f"{name}: safety", ("measure", "value"), rows)


def latency_table(name: str, s: dict[str, Any]) -> Table:
    rows = tuple(
        (stage, _f(d["n"]), _f(d["p50"], 1), _f(d["p95"], 1), _f(d["mean"], 1))
        for stage, d in s["latency_ms"].items()
    )
    return Table(
        f"{name}: latency per pipeline stage (ms)", ("stage", "n", "p50", "p95", "mean"), rows
    )


def mutation_table(m: dict[str, Any]) -> Table:
    rows = (
        ("dose sentences / scored mutants", f"{m['sentences']} / {m['mutants_scored']}"),
        (
            "detection, reference rules only / with citations",
            f"{m['detection_ref']:.3f} / {m['detection_cit']:.3f}",
        ),
        (
            "false positives, reference rules only / with citations",
            f"{m['false_positive_rate_ref']:.3f} / {m['false_positive_rate_cit']:.3f}",
        ),
        ("meets targets", _f(m["meets_targets"])),
    )
    return Table("Guard mutation harness (evals/mutations.py)", ("measure", "value"), rows)


def stamp_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    idx = summary["index"]
    mach = summary["machine"]
    rows = [
        ("command", f"`{summary['command']}`"),
        ("date (UTC)", summary["created_at"]),
        ("config / settings digest", f"{summary['config']} / `{summary['settings_digest']}`"),
        (
            "index digest / corpus hash",
            f"`{idx['digest']}` / `{idx['corpus_hash'][:16]}`",
        ),
        (
            "index",
            f"{idx['documents']:,} documents, {idx['chunks']:,} chunks, {idx['embedder_id']}, "
            f"{idx['dense_kind']} + BM25; sources {', '.join(idx['sources'])}",
        ),
    ]
    for qf in summary["question_files"]:
        rows.append(
            (
                f"questions: {qf['set']}",
                f"{qf['path']} (sha256 `{qf['sha256'][:16]}`), {qf['evaluated']} of "
                f"{qf['questions']} evaluated, {qf['bad_lines']} bad line(s) skipped",
            )
        )
    rows += [
        ("peers", ", ".join(summary["peers"]) or "none"),
        (
            "machine",
            f"{mach['cpus']} CPU cores, {mach['memory_gb']} GB, {mach['platform']}, "
            f"Python {mach['python']}",
        ),
        (
            "wall time",
            f"{summary['wall_s']:.1f} s this invocation; "
            f"{summary['wall_s_all_invocations']:.1f} s over {summary['invocations']} invocation(s)",
        ),
        ("memory", f"RSS {summary['rss_mb']:,.0f} MB, peak {summary['peak_rss_mb']:,.0f} MB"),
    ]
    if summary.get("peers_skipped"):
        rows.append(("peers skipped", ", ".join(summary["peers_skipped"])))
    return rows


def tables(summary: dict[str, Any]) -> list[Table]:
    out: list[Table] = []
    for name, s in summary["sets"].items():
        out += [
            retrieval_table(name, s, summary["k"]),
            answer_table(name, s),
            safety_table(name, s),
            latency_table(name, s),
        ]
    if summary.get("mutations"):
        out.append(mutation_table(summary["mutations"]))
    return out


# ------------------------------------------------------------------ rendering


def markdown_table(t: Table) -> str:
    def cell(x: str) -> str:
        return x.replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(t.headers) + " |",
        "|" + "---|" * len(t.headers),
        *("| " + " | ".join(cell(c) for c in row) + " |" for row in t.rows),
    ]
    if t.note:
        lines += ["", t.note]
    return "\n".join(lines)


def to_markdown(summary: dict[str, Any], plots: Sequence[str]) -> str:
    parts = ["# Bedside evaluation", ""]
    parts += ["| | |", "|---|---|"]
    parts += [f"| {k} | {v.replace('|', '/')} |" for k, v in stamp_rows(summary)]
    for t in tables(summary):
        parts += ["", f"## {t.title}", "", markdown_table(t)]
    if plots:
        parts += ["", "## Plots", ""]
        parts += [f"![{PLOTS.get(p, p)}]({p})" for p in plots]
    return "\n".join(parts) + "\n"


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in t.rows
    )
    note = f"<p class='note'>{html.escape(t.note)}</p>" if t.note else ""
    return f"<h2>{html.escape(t.title)}</h2><table><tr>{head}</tr>{body}</table>{note}"


def to_html(summary: dict[str, Any], out: Path, plots: Sequence[str]) -> str:
    stamps = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v.strip('`'))}</td></tr>"
        for k, v in stamp_rows(summary)
    )
    body = [f"<h1>Bedside evaluation</h1><table class='stamp'>{stamps}</table>"]
    body += [_html_table(t) for t in tables(summary)]
    for name in plots:
        data = base64.b64encode((out / name).read_bytes()).decode("ascii")
        title = html.escape(PLOTS.get(name, name))
        body.append(f"<h2>{title}</h2><img alt='{title}' src='data:image/png;base64,{data}'>")
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}"
        "table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}"
        "th{background:#f4f4f4}.note{color:#555;font-size:.9em}img{max-width:100%}"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Bedside evaluation</title><style>{style}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )


# ------------------------------------------------------------------ plots


def plot(summary: dict[str, Any], records: Sequence[dict[str, Any]], out: Path) -> list[str]:
    """Draw the PNGs into ``out``; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = summary["sets"]
    names = list(sets)
    written: list[str] = []

    # recall@k curves: one panel per set, one line per system
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for system, m in sets[name]["retrieval"].items():
            curve = m["recall_curve"]
            if m["questions"] and curve:
                ax.plot(range(1, len(curve) + 1), curve, marker=".", label=_label(system))
        ax.set_title(name)
        ax.set_xlabel("k (documents)")
        ax.set_ylabel("recall@k")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "recall_at_k.png", dpi=90)
    plt.close(fig)
    written.append("recall_at_k.png")

    # latency histograms: Bedside per stage; retrieval per system
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    stages: dict[str, list[float]] = {}
    systems: dict[str, list[float]] = {}
    for r in records:
        if r.get("error"):
            continue
        for stage, ms in r["latency_ms"].items():
            stages.setdefault(stage, []).append(max(float(ms), 0.01))
        systems.setdefault("bedside", []).append(max(float(r["latency_ms"]["retrieve"]), 0.01))
        for peer, p in r.get("peers", {}).items():
            systems.setdefault(peer, []).append(max(float(p["latency_ms"]), 0.01))
    for ax, series, title in (
        (left, stages, "Bedside pipeline, per stage"),
        (right, systems, "retrieval, per system"),
    ):
        lo = min((min(v) for v in series.values()), default=0.01)
        hi = max((max(v) for v in series.values()), default=1.0)
        import numpy as np

        bins = np.logspace(np.log10(lo), np.log10(max(hi, lo * 10)), 40)
        for key, values in series.items():
            ax.hist(values, bins=bins, histtype="step", label=_label(key), linewidth=1.4)
        ax.set_xscale("log")
        ax.set_xlabel("ms per question (log scale)")
        ax.set_ylabel("questions")
        ax.set_title(title)
        if series:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=90)
    plt.close(fig)
    written.append("latency.png")

    # per-set bars: retrieval metrics per system, and answer measures
    metrics = ("recall@10", "mrr", "ndcg@10")
    all_systems = list(dict.fromkeys(s for n in names for s in sets[n]["retrieval"]))
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    width = 0.8 / max(len(all_systems), 1)
    for ax, metric in zip(axes[:3], metrics, strict=True):
        for i, system in enumerate(all_systems):
            values = [sets[n]["retrieval"].get(system, {}).get(metric) or 0.0 for n in names]
            ax.bar([x + i * width for x in range(len(names))], values, width, label=_label(system))
        ax.set_xticks([x + width * (len(all_systems) - 1) / 2 for x in range(len(names))], names)
        ax.set_title(metric)
        ax.set_ylim(0, 1.05)
    axes[0].legend(fontsize=7)
    answer_keys = (
        ("must_have_coverage", "must-have"),
        ("number_grounding", "numbers grounded"),
        ("abstention_rate", "abstained"),
        ("label_agreement", "yes/no/maybe"),
    )
    ax = axes[3]
    width = 0.8 / len(answer_keys)
    for i, (key, label) in enumerate(answer_keys):
        values = [sets[n]["answer"].get(key) or 0.0 for n in names]
        ax.bar([x + i * width for x in range(len(names))], values, width, label=label)
    ax.set_xticks([x + width * (len(answer_keys) - 1) / 2 for x in range(len(names))], names)
    ax.set_title("answers (Bedside)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "per_set.png", dpi=90)
    plt.close(fig)
    written.append("per_set.png")
    return written


def write_reports(summary: dict[str, Any], out: Path, records: Sequence[dict[str, Any]]) -> None:
    """report.md, report.html and the PNGs, from the summary and the run's result records."""
    plots = plot(summary, records, out)
    (out / "report.md").write_text(to_markdown(summary, plots), encoding="utf-8")
    (out / "report.html").write_text(to_html(summary, out, plots), encoding="utf-8")


# ------------------------------------------------------------------ compare


def load_summary(run: Path) -> dict[str, Any]:
    path = run / "summary.json" if run.is_dir() else run
    if not path.is_file():
        raise InputError(
            f"no summary.json at {path}: give a directory written by `bedside eval --out DIR` "
            "(or its summary.json)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or "sets" not in data:
        raise InputError(f"{path} is not a bedside eval summary (no 'sets')")
    return data


def flatten(summary: dict[str, Any]) -> dict[tuple[str, str], float]:
    """(set, measure) -> number, for every numeric measure worth comparing."""
    out: dict[tuple[str, str], float] = {}
    for name, s in summary["sets"].items():
        for system, m in s["retrieval"].items():
            for key in ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10"):
                if m.get(key) is not None:
                    out[(name, f"{system} {key}")] = float(m[key])
            out[(name, f"{system} p50 ms")] = float(m["latency_ms"]["p50"])
            out[(name, f"{system} p95 ms")] = float(m["latency_ms"]["p95"])
        for key, value in s["answer"].items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[(name, f"answer {key}")] = float(value)
        for key in ("findings_per_answer", "block_rate", "withheld_statements"):
            if s["safety"].get(key) is not None:
                out[(name, f"safety {key}")] = float(s["safety"][key])
        for stage, d in s["latency_ms"].items():
            out[(name, f"latency {stage} p50 ms")] = float(d["p50"])
            out[(name, f"latency {stage} p95 ms")] = float(d["p95"])
    return out


def compare(a: dict[str, Any], b: dict[str, Any]) -> str:
    """A side-by-side table of two runs: A, B, B - A and B / A for every shared measure."""
    fa, fb = flatten(a), flatten(b)
    keys = list(dict.fromkeys([*fa, *fb]))
    header = [
        f"A: {a.get('command', '?')}  (settings {a.get('settings_digest')}, index {a.get('index', {}).get('digest')})",
        f"B: {b.get('command', '?')}  (settings {b.get('settings_digest')}, index {b.get('index', {}).get('digest')})",
        "",
    ]
    rows = [("set", "measure", "A", "B", "delta (B-A)", "B/A")]
    for key in keys:
        va, vb = fa.get(key), fb.get(key)
        delta = f"{vb - va:+.3f}" if va is not None and vb is not None else "–"
        ratio = f"{vb / va:.2f}" if va and vb is not None else "–"
        rows.append(
            (
                key[0],
                key[1],
                "–" if va is None else f"{va:.3f}",
                "–" if vb is None else f"{vb:.3f}",
                delta,
                ratio,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(
                cell.ljust(w) if i < 2 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(header + lines) + "\n"
