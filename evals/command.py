"""The ``bedside eval`` command (registered by ui/cli.py) and ``bedside eval compare``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_INTERRUPTED = 0, 130
DEFAULT_PEERS = "bm25,dense,llamaindex"


def register(sub: Any) -> None:
    """Add ``eval`` (and its ``compare``) to the ``bedside`` subcommands."""
    p = sub.add_parser(
        "eval",
        help="evaluate Bedside over question sets (metrics, peers, reports); "
        "`bedside eval compare RUN_A RUN_B` puts two runs side by side",
        description="Run Bedside headless over question files in the shared eval schema and "
        "write results.jsonl, summary.json, report.md and report.html (with plots) to --out. "
        "`bedside eval compare RUN_A RUN_B` prints two runs side by side.",
    )
    p.add_argument(
        "--questions",
        action="append",
        type=Path,
        metavar="FILE.jsonl",
        help="question file (repeatable): id, question, history, gold_doc_ids, qrels, "
        "reference_answer, must_have, answer_label",
    )
    p.add_argument(
        "--index-dir",
        type=Path,
        metavar="DIR",
        help="evaluate over this index as built (with --source: build it there when stale)",
    )
    p.add_argument(
        "--source",
        action="append",
        metavar="KIND[:PATH]",
        help="corpus source (repeatable); the index is cached under ~/.bedside/eval/ "
        "(default: the configured sources)",
    )
    p.add_argument(
        "--config",
        metavar="NAME",
        help="settings preset (assistant/presets/NAME.json); default: --preset or none",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output directory (default: bedside-eval/<sets>[.<config>])",
    )
    p.add_argument(
        "--k", type=int, default=10, help="ranking depth in documents for MRR and recall curves"
    )
    p.add_argument("--limit", type=int, metavar="N", help="first N questions of each file")
    p.add_argument(
        "--peers",
        default=DEFAULT_PEERS,
        metavar="NAMES",
        help=f"retrieval peers run on the same questions: {DEFAULT_PEERS} (default), all or none",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out: keep its finished answers, evaluate the rest",
    )
    p.add_argument("--overwrite", action="store_true", help="discard the results already in --out")
    p.add_argument(
        "--mutations",
        action="store_true",
        help="also run the guard mutation harness and report its rates",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_eval, eval_parser=p)
    commands = p.add_subparsers(dest="eval_command", metavar="{compare}")
    c = commands.add_parser(
        "compare",
        help="print two runs side by side with deltas",
        description="Print the measures of two `bedside eval` runs side by side: A, B, B - A "
        "and B / A for every set and measure.",
    )
    c.add_argument("run_a", type=Path, metavar="RUN_A", help="a --out directory (or summary.json)")
    c.add_argument("run_b", type=Path, metavar="RUN_B", help="a --out directory (or summary.json)")
    c.set_defaults(func=cmd_compare)


def default_out(questions: list[Path], config: str | None) -> Path:
    from evals.runner import set_name

    name = "+".join(dict.fromkeys(set_name(q) for q in questions))
    return Path("bedside-eval") / (f"{name}.{config}" if config else name)


def cmd_eval(args: argparse.Namespace) -> int:
    from evals.peers import parse_peers
    from evals.report import answer_table, markdown_table, retrieval_table
    from evals.runner import RESULTS, RunConfig, run_eval

    if not args.questions:
        args.eval_parser.error(
            "give at least one --questions FILE.jsonl (or: bedside eval compare RUN_A RUN_B)"
        )
    config = args.config or getattr(args, "preset", None)
    out = args.out or default_out(args.questions, config)
    cfg = RunConfig(
        question_files=tuple(args.questions),
        out=out,
        preset=config,
        sources=tuple(args.source or ()),
        index_dir=args.index_dir,
        k=args.k,
        limit=args.limit,
        peers=parse_peers(args.peers),
        resume=args.resume,
        overwrite=args.overwrite,
        mutations=args.mutations,
    )
    try:
        summary = run_eval(cfg, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(
            f"bedside: interrupted; every finished answer is in {out / RESULTS}: "
            "run the same command with --resume to go on",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    for name, s in summary["sets"].items():
        print(markdown_table(retrieval_table(name, s, summary["k"])))
        print()
        print(markdown_table(answer_table(name, s)))
        print()
    print(
        f"bedside: wrote {out}/results.jsonl, summary.json, report.md and report.html "
        f"in {summary['wall_s']:.0f} s",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from evals.report import compare, load_summary

    print(compare(load_summary(args.run_a), load_summary(args.run_b)), end="")
    return EXIT_OK
