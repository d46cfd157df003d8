"""The ``bedside`` command."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import sys
import textwrap
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from corpus.errors import BedsideError, ConfigError

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
_SERVER = "assistant.settings:ServerSettings"
_PATIENT = "guardrails.patient:PatientInput"


def _progress_bar() -> Any:
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            rated = stage == "embedding"  # the slow stage; the others finish in a step
            bar = bars[stage] = tqdm(
                total=total,
                desc=f"{stage:>9}",
                unit=" chunks" if rated else "",
                bar_format=None
                if rated
                else "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}",
                file=sys.stderr,
                leave=True,
                dynamic_ncols=True,
            )
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return progress


@contextlib.contextmanager
def _spinner(label: str, delay_s: float = 0.4) -> Iterator[None]:
    """A spinner on a terminal's stderr while something slow runs (shown only after
    ``delay_s``, so a quick step prints nothing); nothing when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield
        return
    stop = threading.Event()

    def spin() -> None:
        if stop.wait(delay_s):
            return
        for frame in itertools.cycle("|/-\\"):
            sys.stderr.write(f"\rbedside: {label} {frame}")
            sys.stderr.flush()
            if stop.wait(0.1):
                break
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _in_range(model: str, field: str, kind: type[int] | type[float] = int) -> Any:
    """An argparse type for an option that sets ``field`` of the pydantic ``model``
    ("module:Class"): a value outside the field's bounds is a usage error naming the
    option and the range (exit 2), not a validation dump. The bounds stay in the model."""

    def parse(text: str) -> int | float:
        import importlib

        module, name = model.split(":")
        info = getattr(importlib.import_module(module), name).model_fields[field]
        bounds = {
            key: getattr(m, key)
            for m in info.metadata
            for key in ("ge", "gt", "le", "lt")
            if getattr(m, key, None) is not None
        }
        low = (
            f"from {bounds['ge']}"
            if "ge" in bounds
            else f"above {bounds['gt']}"
            if "gt" in bounds
            else ""
        )
        high = (
            f"{'to' if 'ge' in bounds else 'and at most'} {bounds['le']}"
            if "le" in bounds
            else f"and below {bounds['lt']}"
            if "lt" in bounds
            else ""
        )
        noun = "a whole number" if kind is int else "a number"
        expected = " ".join(x for x in (noun, low, high) if x)
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if (
            ("ge" in bounds and value < bounds["ge"])
            or ("gt" in bounds and value <= bounds["gt"])
            or ("le" in bounds and value > bounds["le"])
            or ("lt" in bounds and value >= bounds["lt"])
            or value != value  # NaN
        ):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    parse.__name__ = kind.__name__  # what argparse names in its own messages
    return parse


def _settings(args: argparse.Namespace, **extra: Any) -> Any:
    from assistant.settings import load_settings

    overrides: dict[str, Any] = dict(extra)
    if getattr(args, "index_dir", None):
        overrides["index_dir"] = Path(args.index_dir)
    if getattr(args, "source", None):
        overrides["sources"] = list(args.source)
    settings = load_settings(args.preset, **overrides)
    return with_recorded_sources(settings, quiet=bool(getattr(args, "index_dir", None)))


def with_recorded_sources(settings: Any, *, quiet: bool = False) -> Any:
    """Settings whose sources are those the existing local index was built from, when no
    source was given (no --source, no BEDSIDE_SOURCES, no preset's): an index built with
    `bedside index --source dir:PROTOCOLS` is served, listed and rebuilt with its
    protocols, never silently rebuilt from the default corpus without them."""
    from retrieval.indexing import recorded_sources

    if "sources" in settings.model_fields_set or settings.retrieval.backend != "local":
        return settings
    recorded = recorded_sources(settings.resolved_index_dir)
    if not recorded or recorded == list(settings.sources):
        return settings
    if not quiet:  # an index named with --index-dir is used as built: nothing to say
        print(
            f"bedside: using the sources the index at {settings.resolved_index_dir} was "
            f"built from: {', '.join(recorded)} (--source to change them)",
            file=sys.stderr,
        )
    return settings.model_copy(update={"sources": recorded})


def _print_problems(problems: Sequence[Any], limit: int = 20) -> None:
    for problem in problems[:limit]:
        print(f"bedside: skipped {problem}", file=sys.stderr)
    if len(problems) > limit:
        print(f"bedside: ... and {len(problems) - limit} more problems", file=sys.stderr)


def cmd_index(args: argparse.Namespace) -> int:
    from retrieval.embedders import get_embedder
    from retrieval.indexing import build_from_sources

    settings = _settings(args)
    if args.backend == "postgres" or (
        args.backend is None and settings.retrieval.backend == "postgres"
    ):
        return _index_postgres(settings, args.from_index)  # backend hook: the shared database
    if args.from_index:
        raise ConfigError(
            "--from-index copies a local index into PostgreSQL: add --backend postgres"
        )
    index_dir = settings.resolved_index_dir
    print(f"bedside: indexing {', '.join(settings.sources)} into {index_dir}", file=sys.stderr)
    report = build_from_sources(
        settings.sources,
        index_dir,
        embedder=get_embedder(
            settings.retrieval.embedder,
            settings.models_dir,
            lambda m: print(f"bedside: {m}", file=sys.stderr),
            precision=settings.retrieval.precision,
        ),
        chunking=settings.corpus.chunking,
        retrieval=settings.retrieval,
        progress=_progress_bar(),
        incremental=not args.full,
    )
    _print_problems(report.problems)
    for note in report.notes:
        print(f"bedside: note: {note}", file=sys.stderr)
    m = report.manifest
    embedded = m.counts.chunks if m.embedded is None else m.embedded
    print(
        f"indexed {m.counts.documents} documents as {m.counts.chunks} chunks "
        f"({m.embedder_id}, {m.dense_kind} + BM25) in {index_dir}; "
        f"{len(report.problems)} problem(s); index {m.digest()}; "
        f"{embedded} chunk(s) embedded, {m.counts.chunks - embedded} unchanged"
    )
    return EXIT_OK


def _index_postgres(settings: Any, from_index: str | None) -> int:
    from retrieval.embedders import get_embedder
    from retrieval.postgres import build_pg_from_index, build_pg_from_sources, redacted

    pg = settings.retrieval.postgres
    if from_index:
        where = Path(from_index).expanduser()
        print(
            f"bedside: copying the index at {where} into PostgreSQL at {redacted(pg.dsn)}",
            file=sys.stderr,
        )
        version, m = build_pg_from_index(
            where,
            postgres=pg,
            embedder=get_embedder(
                settings.retrieval.embedder, precision=settings.retrieval.precision
            ),
            retrieval=settings.retrieval,
            progress=_progress_bar(),
        )
        print(
            f"copied {m.counts.documents} documents as {m.counts.chunks} chunks "
            f"({m.embedder_id}, {m.dense_kind} + BM25) as version {version}, now active; "
            f"corpus {m.corpus_hash[:12]}; index {m.digest()}"
        )
        return EXIT_OK
    print(
        f"bedside: indexing {', '.join(settings.sources)} into PostgreSQL at {redacted(pg.dsn)}",
        file=sys.stderr,
    )
    version, m, problems = build_pg_from_sources(
        settings.sources,
        postgres=pg,
        embedder=get_embedder(settings.retrieval.embedder, precision=settings.retrieval.precision),
        chunking=settings.corpus.chunking,
        retrieval=settings.retrieval,
        progress=_progress_bar(),
    )
    _print_problems(problems)
    print(
        f"indexed {m.counts.documents} documents as {m.counts.chunks} chunks "
        f"({m.embedder_id}, {m.dense_kind} + BM25) as version {version}, now active; "
        f"{len(problems)} problem(s); index {m.digest()}"
    )
    return EXIT_OK


def _patient_from_args(args: argparse.Namespace) -> Any:
    from guardrails.patient import PatientInput

    fields = {
        "weight_kg": args.weight,
        "crcl_ml_min": args.crcl,
        "age": args.age,
        "hepatic_impairment": True if args.hepatic else None,
        "hit": True if args.hit else None,
    }
    if all(v is None for v in fields.values()):
        return None
    return PatientInput(**fields).to_patient()


def cmd_ask(args: argparse.Namespace) -> int:
    from assistant.questions import clean_question

    settings = _settings(args)
    question = clean_question(args.question, settings.assistant.max_question_chars)
    if args.passages:
        return _print_passages(args, settings, question)
    from assistant.pipeline import Assistant, answer_json
    from assistant.types import Turn

    assistant = Assistant.from_settings(
        settings,
        progress=_progress_bar(),
        log=lambda m: print(f"bedside: {m}", file=sys.stderr),
        refresh=not (args.index_dir and not args.source),  # an explicit index is served as built
    )
    history = [Turn("user", h) for h in args.history or []]
    with _spinner("answering"):
        answer = assistant.ask(question, history, _patient_from_args(args), args.audience)
    if args.json:
        print(json.dumps(answer_json(answer), ensure_ascii=False, indent=2))
    else:
        print(answer.markdown)  # inert Markdown: render escapes every source's text
    return EXIT_OK


def _print_passages(args: argparse.Namespace, settings: Any, question: str) -> int:
    from assistant.pipeline import open_retriever

    # an explicit index is served as built
    refresh = not (args.index_dir and not args.source)
    retriever, report = open_retriever(settings, _progress_bar(), refresh=refresh)
    if report is not None and report.built:
        print(f"bedside: built the index ({report.reason})", file=sys.stderr)
        _print_problems(report.problems)
    index = retriever.index
    k = args.k or settings.retrieval.k
    passages = retriever.search(question, k=k, mode=args.mode)
    if args.json:
        out = {
            "question": question,
            "mode": args.mode,
            "k": k,
            "index": {
                "path": str(index.path),
                "digest": index.manifest.digest(),
                "corpus_hash": index.manifest.corpus_hash,
                "embedder": index.manifest.embedder_id,
            },
            "settings_digest": settings.digest(),
            "passages": [p.to_json() for p in passages],
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return EXIT_OK
    from assistant.markup import visible

    if not passages:
        print("No passage matched the question.")
    for p in passages:
        meta = " · ".join(
            str(x)
            for x in (
                p.doc.organization,
                p.doc.year,
                " > ".join(p.chunk.section_path) or p.doc.section,
            )
            if x
        )
        # Source text as plain characters: no control sequence from a source reaches the terminal.
        print(f"{p.rank}. {visible(p.doc.title)}  [score {p.score:.4f}]")
        if meta:
            print(f"   {visible(meta)}")
        print(f"   {visible(p.chunk.id)}")
        body = " ".join(visible(p.chunk.text).split())
        print(
            textwrap.indent(textwrap.fill(body[:600] + ("…" if len(body) > 600 else ""), 96), "   ")
        )
        print()
    return EXIT_OK


def _listed_retriever(args: argparse.Namespace) -> Any:
    """The index a listing command reads: an explicit --index-dir as built, else the
    configured one (built when missing or stale, which is said on stderr)."""
    from assistant.pipeline import open_retriever

    retriever, report = open_retriever(
        _settings(args), _progress_bar(), refresh=not (args.index_dir and not args.source)
    )
    if report is not None and report.built:
        print(f"bedside: built the index ({report.reason})", file=sys.stderr)
        _print_problems(report.problems)
    return retriever


def cmd_library(args: argparse.Namespace) -> int:
    from assistant.markup import visible
    from assistant.provenance import today
    from corpus.errors import InputError
    from ui.library import filter_entries, library_entries, source_types

    retriever = _listed_retriever(args)
    day = today()
    entries = library_entries(retriever, day)
    if args.type:
        shown = filter_entries(entries, "", args.type)
        if not shown:
            raise InputError(
                f"no document of source type {args.type!r} in the index; "
                f"its types: {', '.join(source_types(entries))}"
            )
        entries = shown
    if args.json:
        out = {
            "today": day.isoformat(),
            "index_digest": retriever.digest,
            "documents": [e.to_json() for e in entries],
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return EXIT_OK

    def cut(text: str, width: int) -> str:
        text = " ".join(visible(text).split())  # no control sequence reaches the terminal
        return text if len(text) <= width else text[: width - 1] + "…"

    header = ("Id", "Document", "Organisation", "Status", "Review by", "Chunks", "Dose statements")
    rows = [
        (
            visible(e.doc_id),
            cut(e.title, 44),
            cut(e.organisation or "-", 24),
            cut(e.status or "-", 28),
            (e.review_by or "-") + (" overdue" if e.overdue else ""),
            str(e.chunks),
            str(e.dose_statements),
        )
        for e in entries
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [
            c.rjust(w) if i >= 5 else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
    overdue = sum(e.overdue for e in entries)
    print(
        f"{len(entries)} documents, {sum(e.chunks for e in entries)} chunks, "
        f"{sum(e.dose_statements for e in entries)} dose statements; "
        f"{overdue} past their review-by date (today {day.isoformat()}); index {retriever.digest}"
    )
    return EXIT_OK


def cmd_reference(args: argparse.Namespace) -> int:
    from assistant.knowledge import UnknownDrugError, drug_knowledge
    from assistant.markup import visible
    from corpus.errors import InputError
    from guardrails.reference import default_reference

    retriever = _listed_retriever(args)
    try:
        known = drug_knowledge(args.drug, retriever, default_reference())
    except UnknownDrugError as e:
        raise InputError(f"bedside reference show: {e}") from e
    if args.json:
        print(json.dumps(known.to_json(), ensure_ascii=False, indent=2))
        return EXIT_OK

    def line(text: str) -> str:
        return " ".join(visible(text).split())  # no control sequence reaches the terminal

    names = ", ".join(known.names) or "-"
    print(
        f"{known.drug} (names: {names}; products in the corpus: {', '.join(known.products) or '-'})"
    )
    print(f"\nDose reference ({len(known.reference)} entries, reviewed):")
    for d in known.reference:
        print(f"  {d.entry_id}: {line(d.dose)}\n      {d.doc_id}: \u201c{line(d.quote)}\u201d")
    if not known.reference:
        print("  none: a dose of this drug is checked against its cited source only")
    print(f"\nContraindications ({len(known.contraindications)}):")
    for c in known.contraindications:
        print(
            f"  {c.rule_id} ({c.when}): {line(c.message)}\n      {c.doc_id}: \u201c{line(c.quote)}\u201d"
        )
    shown = known.corpus[: args.limit] if args.limit else known.corpus
    print(f"\nDoses the corpus states ({len(known.corpus)}, index {known.index_digest}):")
    for stated in shown:
        context = "; ".join(filter(None, (", ".join(stated.indications), stated.patient)))
        print(
            f"  {line(stated.dose)}{f' [{line(context)}]' if context else ''} - "
            f"{stated.doc_id} ({line(stated.title)}): \u201c{line(stated.sentence)}\u201d"
        )
    if len(shown) < len(known.corpus):
        print(f"  ... {len(known.corpus) - len(shown)} more (--limit 0 lists all, --json too)")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from corpus.errors import InputError
    from guardrails.batch import run_batch

    path = Path(args.input)
    if not path.is_file():
        raise InputError(f"input file {path} does not exist")
    reference = None
    if args.reference:
        from guardrails.reference import load_reference

        reference = load_reference(Path(args.reference))  # ConfigError names the bad file
    if args.output:
        with Path(args.output).open("w", encoding="utf-8") as out:
            checked, blocked, problems = run_batch(path, out, reference)
    else:
        checked, blocked, problems = run_batch(path, sys.stdout, reference)
    _print_problems(problems)
    print(
        f"bedside: checked {checked} answer(s): {blocked} blocked, {checked - blocked} allowed; "
        f"{len(problems)} bad line(s) skipped",
        file=sys.stderr,
    )
    if checked == 0 and problems:
        return EXIT_ERROR
    return EXIT_OK


def log(message: str) -> None:
    print(f"bedside: {message}", file=sys.stderr)


def uvicorn_options(server: Any) -> dict[str, Any]:
    """The uvicorn options that bound how long a client may take to send a request
    (``server.header_timeout_s``; ``server.body_timeout_s`` is ``ui.timeouts.BodyTimeout``
    in the app)."""
    from ui.timeouts import header_timed_protocol

    return {"http": header_timed_protocol(server.header_timeout_s), "timeout_keep_alive": 5}


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ui.access import AccessPolicy, is_loopback

    server: dict[str, Any] = {
        k: v for k, v in (("host", args.host), ("port", args.port), ("workers", args.workers)) if v
    }
    settings = _settings(args, server=server or None)
    access = settings.server
    # Refuse a policy that cannot work before spending minutes on the index.
    AccessPolicy.from_settings(access, os.environ.get(access.api_token_env) or None)
    if settings.retrieval.backend == "postgres":  # the check `bedside index` makes
        from retrieval.postgres import check_dsn

        check_dsn(settings.retrieval.postgres)
    if access.access == "none" and not is_loopback(access.host):
        if not access.open_network:
            raise ConfigError(
                f"server.access is none and the host is {access.host}: anyone who can reach "
                "the port could ask. Set BEDSIDE_SERVER__ACCESS=token (with "
                f"{access.api_token_env}) or proxy (with server.trusted_proxies), or "
                "BEDSIDE_SERVER__OPEN_NETWORK=true to serve without access control"
            )
        print(
            f"bedside: WARNING: no access control on {access.host} (server.open_network)",
            file=sys.stderr,
        )
    if not is_loopback(access.host) and all(is_loopback(h) for h in access.allowed_hosts):
        print(
            "bedside: WARNING: server.allowed_hosts lists only loopback names, so a request "
            "addressed to this machine by any other name is 400: add the name people use "
            "(BEDSIDE_SERVER__ALLOWED_HOSTS)",
            file=sys.stderr,
        )
    where = str(settings.resolved_index_dir)
    if settings.retrieval.backend == "postgres":  # backend hook
        from retrieval.postgres import redacted

        where = f"PostgreSQL at {redacted(settings.retrieval.postgres.dsn)}"
    print(f"bedside: opening the index in {where}", file=sys.stderr)
    host, port, workers = access.host, access.port, access.workers
    run: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "server_header": False,
        "timeout_graceful_shutdown": 5,
        "proxy_headers": False,  # ui.access believes X-Forwarded-* only from trusted proxies
        **uvicorn_options(access),
    }
    serving = (
        f"bedside: serving http://{host}:{port}/chat/ (API /api/ask, /docs; access {access.access})"
    )
    if workers > 1:
        from ui.workers import PARENT_ENV, SPEC_ENV, prepare_index_apart, run_workers, worker_spec

        spec = worker_spec(settings)  # refused before any work when it would copy a secret

        if settings.retrieval.backend == "local":
            # Build or refresh once (unless --index-dir), and refuse a changed index before
            # any worker starts; done in a child process, so this supervisor never holds the
            # embedding model.
            prepare_index_apart(settings, build=not args.index_dir)
        os.environ[SPEC_ENV] = spec
        os.environ[PARENT_ENV] = str(os.getpid())
        print(f"{serving} with {workers} worker processes", file=sys.stderr)
        run_workers("ui.workers:app_from_environment", factory=True, workers=workers, **run)
        return EXIT_OK

    from assistant.pipeline import Assistant
    from ui.app import create_app
    from ui.pg_store import open_audit_log, open_feedback_store  # HOME or the shared database
    from ui.service import Service

    assistant = Assistant.from_settings(
        settings, progress=_progress_bar(), log=log, refresh=not args.index_dir
    )
    service = Service(assistant, open_feedback_store(settings), audit=open_audit_log(settings))
    app = create_app(service)
    service.start_verifying()  # retrieval.verify_every_s, and SIGUSR1
    print(serving, file=sys.stderr)
    uvicorn.run(app, **run)
    return EXIT_OK


def add_index_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    """--index-dir and --source, for commands that answer from an index."""
    parser.add_argument(
        "--index-dir",
        metavar="DIR",
        help=f"{verb} this index as built (default: the bundled corpus index, rebuilt when stale)",
    )
    parser.add_argument(
        "--source",
        action="append",
        metavar="KIND[:PATH]",
        help="corpus sources for the index (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bedside",
        description="Offline clinical question answering with cited, dose-checked answers.",
    )
    parser.add_argument(
        "--preset", default=None, help="named settings preset (assistant/presets/NAME.json)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p_index = sub.add_parser("index", help="build the search index from corpus sources")
    p_index.add_argument(
        "--source",
        action="append",
        metavar="KIND[:PATH]",
        help="corpus source (repeatable): pack[:DIR], jsonl:PATH, openfda:PATH, pubmed:PATH, "
        "open-medicine, dir:PATH (a protocol folder: PDF, Word, HTML, Markdown)",
    )
    p_index.add_argument(
        "--full",
        action="store_true",
        help="embed every chunk again (default: chunks whose text did not change keep the "
        "vectors of the index being replaced)",
    )
    p_index.add_argument(
        "--index-dir", metavar="DIR", help="where to write the index (default: ~/.bedside/index)"
    )
    p_index.add_argument(
        "--backend",
        choices=["local", "postgres"],
        default=None,
        help="where to write the index (default: retrieval.backend); postgres writes a new "
        "version to retrieval.postgres.dsn and activates it",
    )
    p_index.add_argument(
        "--from-index",
        metavar="DIR",
        default=None,
        help="with --backend postgres: copy this local index (verified first; its documents, "
        "chunks, vectors and BM25 statistics) into a new version instead of embedding again",
    )
    p_index.set_defaults(func=cmd_index)

    p_ask = sub.add_parser(
        "ask", help="ask a question: a cited, dose-checked answer (or --passages)"
    )
    p_ask.add_argument("question")
    p_ask.add_argument(
        "--passages", action="store_true", help="print the ranked passages instead of an answer"
    )
    p_ask.add_argument(
        "--k",
        type=_in_range("retrieval.settings:RetrievalSettings", "k"),
        default=None,
        help="passages listed with --passages (default: retrieval.k)",
    )
    p_ask.add_argument("--json", action="store_true", help="print the stable JSON form")
    p_ask.add_argument(
        "--mode",
        choices=["hybrid", "dense", "bm25"],
        default="hybrid",
        help="retriever for --passages",
    )
    p_ask.add_argument(
        "--history",
        action="append",
        metavar="EARLIER_QUESTION",
        help="an earlier question of the conversation, oldest first (repeatable)",
    )
    p_ask.add_argument("--audience", choices=["clinician", "patient"], default="clinician")
    p_ask.add_argument(
        "--weight",
        type=_in_range(_PATIENT, "weight_kg", float),
        metavar="KG",
        help="patient weight (kg)",
    )
    p_ask.add_argument(
        "--crcl",
        type=_in_range(_PATIENT, "crcl_ml_min", float),
        metavar="ML_MIN",
        help="patient creatinine clearance (mL/min)",
    )
    p_ask.add_argument(
        "--age", type=_in_range(_PATIENT, "age", float), metavar="YEARS", help="patient age (years)"
    )
    p_ask.add_argument("--hepatic", action="store_true", help="patient has hepatic impairment")
    p_ask.add_argument("--hit", action="store_true", help="patient has (or had) HIT")
    add_index_arguments(p_ask, "use")
    p_ask.set_defaults(func=cmd_ask)

    p_library = sub.add_parser(
        "library",
        help="list the indexed documents: status, review-by date, chunks and dose statements",
    )
    p_library.add_argument("--json", action="store_true", help="print the stable JSON form")
    p_library.add_argument(
        "--type",
        metavar="SOURCE_TYPE",
        default="",
        help="only documents of this source type (institution for the local protocols, "
        "guideline, label, ...)",
    )
    add_index_arguments(p_library, "list")
    p_library.set_defaults(func=cmd_library)

    p_reference = sub.add_parser(
        "reference",
        help="what Bedside knows about a drug: the dose reference's entries and "
        "contraindications, and every dose the indexed corpus states for it, with sources",
    )
    reference_sub = p_reference.add_subparsers(dest="reference_command", required=True)
    p_show = reference_sub.add_parser("show", help="show one drug (generic, brand or product)")
    p_show.add_argument("drug", help="a drug name: generic, brand, or a product the corpus names")
    p_show.add_argument("--json", action="store_true", help="print the stable JSON form")
    p_show.add_argument(
        "--limit",
        type=int,
        default=20,
        help="corpus doses listed (default 20; 0 lists all)",
    )
    add_index_arguments(p_show, "read")
    p_show.set_defaults(func=cmd_reference)

    p_check = sub.add_parser("check", help="run the dose guard over answers in a JSONL file")
    p_check.add_argument(
        "--input",
        required=True,
        metavar="FILE.jsonl",
        help="one {id, answer, question?, patient?, citations?, passages?} per line",
    )
    p_check.add_argument(
        "--output", metavar="FILE.jsonl", help="verdicts (default: standard output)"
    )
    p_check.add_argument(
        "--reference",
        metavar="DIR",
        help="a dose reference directory (drugs, indications, doses, contraindications, "
        "conditions YAML) instead of the bundled guardrails/data",
    )
    p_check.set_defaults(func=cmd_check)

    p_serve = sub.add_parser(
        "serve", help="serve the chat (/chat/), the JSON API (/api/) and the widget"
    )
    p_serve.add_argument("--host", help="address to listen on (default: server.host, 127.0.0.1)")
    p_serve.add_argument(
        "--port",
        type=_in_range(_SERVER, "port"),
        help="port to listen on (default: server.port, 8000)",
    )
    p_serve.add_argument(
        "--workers",
        type=_in_range(_SERVER, "workers"),
        help="server processes answering in parallel (default: server.workers, one per core)",
    )
    add_index_arguments(p_serve, "serve")
    p_serve.set_defaults(func=cmd_serve)

    from evals.command import register as register_eval

    register_eval(sub)
    return parser


@contextlib.contextmanager
def _private_files() -> Iterator[None]:
    """Files and folders Bedside creates (the index, feedback, the audit log) are readable
    by their owner only: questions, feedback and the corpus stay private on a shared host."""
    before = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(before)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _private_files():
            return int(args.func(args))
    except BedsideError as exc:
        print(f"bedside: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("bedside: interrupted; any existing index was left as it was", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
