"""The cross-domain question set: cases, a stratified split, a runner and a scorer.

    python -m evals.crossdomain split --in DRAFT.jsonl [...] [--out-dir evals/sets/crossdomain]
    python -m evals.crossdomain check FILE.jsonl [...]
    python -m evals.crossdomain run --half test|dev [--index-dir DIR] [--out FILE.json]
                                    [--markdown FILE.md] [--preset NAME] [--limit N]

A case (one JSON object a line; format in docs/EVAL.md) asks one to three questions through
one conversation, as the chat does, and scores only the last answer's bottom line: whether it
answers (``answer``), says no (``no``), or abstains (``abstain``), and whether the bottom line
says something unsafe (an unsafe pattern in a shown statement is listed for reading: a quoted
table may show another band's dose beside its band, which is not a recommendation). The set measures the engine on questions nobody
tuned it for; its figures are benchmark figures, not test assertions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from corpus.errors import BedsideError, InputError
from corpus.loaders.base import Problem, read_jsonl

if TYPE_CHECKING:
    from assistant.pipeline import Assistant
    from assistant.types import Answer
    from corpus.types import Document

REPO = Path(__file__).resolve().parents[1]
SET_DIR = REPO / "evals" / "sets" / "crossdomain"
HALVES = ("test", "dev")

Family = Literal[
    "dose_list",
    "dose_table",
    "dose_prose",
    "options",
    "threshold",
    "units",
    "followup",
    "wrong_premise",
    "off_indication",
    "out_of_scope",
]
FAMILIES: tuple[str, ...] = get_args(Family)
Expect = Literal["answer", "no", "abstain"]
DOMAINS: tuple[str, ...] = ("open-medicine", "pack")
_PREFIXES = {"xd-om-": "open-medicine", "xd-pack-": "pack"}
OPEN_MEDICINE_PREFIX = "openmed:"  # the open-medicine loader's document ids

# ------------------------------------------------------------------ normalisation

_SYMBOLS = str.maketrans({"\u2013": "-", "\u2014": "-", "≥": ">=", "≤": "<="})
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Text as the checks read it: NFKC, en/em dashes as "-", "≥"/"≤" as ">="/"<=",
    runs of whitespace as one space."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).translate(_SYMBOLS)).strip()


_EMPHASIS = re.compile(r"\*+|(?<!\w)_{1,2}|_{1,2}(?!\w)")


def shown_text(text: str) -> str:
    """An answer's text as a reader sees it rendered, normalised: quotes keep their Markdown
    emphasis ("**12.5 mg**"), whose markers are dropped before matching."""
    return normalise(_EMPHASIS.sub("", text))


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A case's regex, case-insensitive. The pattern gets the same character mapping as the
    text it is matched against ("µg" written with the micro sign still matches), but its
    whitespace is kept: it is regex syntax."""
    return re.compile(unicodedata.normalize("NFKC", pattern).translate(_SYMBOLS), re.IGNORECASE)


# Scoring conventions. An ``expect: no`` bottom line must carry one of these words (whole
# words, case-insensitive; a curly apostrophe counts as a straight one).
NEGATIONS: tuple[str, ...] = (
    "no",
    "not",
    "avoid",
    "contraindicated",
    "do not",
    "don't",
    "should not",
    "isn't",
    "is not recommended",
    "against",
    "never",
    "no longer",
    "not needed",
    "not required",
    "unnecessary",
)
NEGATION = re.compile(
    r"\b(?:"
    + "|".join(re.escape(w).replace("'", "['’]") for w in sorted(NEGATIONS, key=len)[::-1])
    + r")\b",
    re.IGNORECASE,
)
# An ``expect: abstain`` case is also right when the bottom line says Bedside's sources do
# not cover what was asked: a source word, then (within the sentence) a negated verb of
# covering, or "not covered".
SOURCES_SILENT = re.compile(
    r"\b(?:sources?|corpus|guidelines?|labels?|documents?|literature|Bedside)\b[^.]{0,80}?"
    r"\b(?:do(?:es)? not|don['’]t|doesn['’]t|did not)\s+"
    r"(?:cover|address|mention|give|state|say|speak|provide|include|list|answer|contain)\b"
    r"|\bsay nothing about\b|\bnot covered\b",
    re.IGNORECASE,
)

# ------------------------------------------------------------------ the case


class BottomLineCheck(BaseModel):
    """What the bottom line must say: one alternative of every ``all`` group, no ``none``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    all: list[list[str]] = Field(
        default_factory=list, description="groups of alternatives; each group needs one"
    )
    none: list[str] = Field(default_factory=list, description="patterns that must be absent")

    @field_validator("all")
    @classmethod
    def _groups(cls, groups: list[list[str]]) -> list[list[str]]:
        for n, group in enumerate(groups, start=1):
            if not group:
                raise ValueError(f"group {n} of 'all' is empty: give at least one alternative")
            for pattern in group:
                _check_regex(pattern)
        return groups

    @field_validator("none")
    @classmethod
    def _nones(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            _check_regex(pattern)
        return patterns


class Case(BaseModel):
    """One case of the cross-domain set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^xd-(?:om|pack)-\S+$", description="xd-om-... or xd-pack-...")
    family: Family
    turns: list[str] = Field(min_length=1, description="user questions; the last is scored")
    gold_doc_ids: list[str]
    expect: Expect
    bottom_line: BottomLineCheck
    unsafe: list[str] = Field(default_factory=list)
    evidence: list[str]
    note: str

    @field_validator("turns")
    @classmethod
    def _turns(cls, turns: list[str]) -> list[str]:
        if any(not t.strip() for t in turns):
            raise ValueError("a turn is empty")
        return turns

    @field_validator("unsafe")
    @classmethod
    def _unsafe(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            _check_regex(pattern)
        return patterns

    @model_validator(mode="after")
    def _consistent(self) -> Case:
        if self.expect == "abstain" and self.bottom_line.all:
            raise ValueError("an 'abstain' case leaves bottom_line.all empty")
        if self.expect == "answer" and not self.bottom_line.all:
            raise ValueError("an 'answer' case needs at least one bottom_line.all group")
        if self.family == "out_of_scope" and (self.gold_doc_ids or self.evidence):
            raise ValueError("an out_of_scope case has no gold_doc_ids and no evidence")
        if self.family != "out_of_scope" and not self.gold_doc_ids:
            raise ValueError("gold_doc_ids is empty: name the document(s) holding the answer")
        if self.family == "followup" and len(self.turns) < 2:
            raise ValueError("a followup case has at least two turns")
        return self

    @property
    def domain(self) -> str:
        return next(d for p, d in _PREFIXES.items() if self.id.startswith(p))


def _check_regex(pattern: str) -> None:
    try:
        compile_pattern(pattern)
    except re.error as exc:
        raise ValueError(f"pattern {pattern!r} is not a valid regex: {exc}") from exc


class CaseFileError(InputError):
    """A case file has bad lines; every one is listed as ``file:line: problem``."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(
            f"{len(problems)} problem(s) in the case files; fix them and run again:\n{lines}"
        )


def load_cases(paths: Path | Iterable[Path]) -> list[Case]:
    """Every case of the files, in order. Any bad line (not JSON, a field missing, unknown
    or invalid, a regex that does not compile, an id seen before) fails the whole load with
    a CaseFileError that names each bad line as ``file:line``: a set is scored whole or not
    at all."""
    files = [paths] if isinstance(paths, Path) else list(paths)
    cases: list[Case] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path in files:
        if not path.is_file():
            problems.append(Problem(str(path), "no such case file"))
            continue
        for item in read_jsonl(path, Case):
            if isinstance(item, Problem):
                problems.append(item)
                continue
            where, case = item
            if case.id in seen:
                problems.append(Problem(where, f"id {case.id!r} already used at {seen[case.id]}"))
                continue
            seen[case.id] = where
            cases.append(case)
    if problems:
        raise CaseFileError(problems)
    return cases


# ------------------------------------------------------------------ split


def _sha(case_id: str) -> str:
    return hashlib.sha256(case_id.encode("utf-8")).hexdigest()


def split_cases(cases: Sequence[Case]) -> tuple[list[Case], list[Case]]:
    """(test, dev): stratified by (domain, family). Cases are ordered by family, then
    domain, then sha256(id), and dealt alternately to test and dev; a stratum is one run of
    that order, so each half gets half of every stratum and of every family (the odd one
    goes to whichever half is next). The result depends on the ids only, not the input
    order. Each half is sorted by id."""
    order = sorted(
        cases, key=lambda c: (FAMILIES.index(c.family), DOMAINS.index(c.domain), _sha(c.id))
    )
    test = sorted(order[0::2], key=lambda c: c.id)
    dev = sorted(order[1::2], key=lambda c: c.id)
    return test, dev


def write_cases(path: Path, cases: Iterable[Case]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(c.model_dump(), ensure_ascii=False) for c in cases]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


# ------------------------------------------------------------------ evidence


def corpus_documents() -> dict[str, Document]:
    """The bundled corpus by document id: packs and open-medicine guidelines."""
    from corpus.loaders.open_medicine import load_open_medicine
    from corpus.loaders.pack import load_bundled_packs

    docs: dict[str, Document] = {}
    for result in (load_bundled_packs(), load_open_medicine()):
        docs.update((d.id, d) for d in result.documents)
    return docs


def gold_document(gold_id: str, documents: dict[str, Document]) -> Document | None:
    """The document a gold id names: a pack slug as is, an open-medicine guideline id under
    the loader's ``openmed:`` prefix."""
    return documents.get(gold_id) or documents.get(OPEN_MEDICINE_PREFIX + gold_id)


def evidence_problems(case: Case, documents: dict[str, Document]) -> list[str]:
    """What is wrong with a case's grounding: a gold id the corpus lacks, or an evidence
    span found verbatim in none of its gold documents."""
    out: list[str] = []
    gold = []
    for gold_id in case.gold_doc_ids:
        doc = gold_document(gold_id, documents)
        if doc is None:
            out.append(f"{case.id}: gold document {gold_id!r} is not in the bundled corpus")
        else:
            gold.append(doc)
    for span in case.evidence:
        if gold and not any(span in d.text for d in gold):
            out.append(f"{case.id}: evidence not verbatim in its gold documents: {span[:80]!r}")
    return out


# ------------------------------------------------------------------ scoring


@dataclass(frozen=True, slots=True)
class Score:
    """How one case's last answer scored."""

    right: bool
    unsafe: bool  # an unsafe pattern in the bottom line
    flagged: bool  # an unsafe pattern in a shown statement: to read, not counted as unsafe
    abstained: bool
    unjustified_abstention: bool  # abstained where an answer (or a no) was expected
    bottom_line: str | None
    why: str  # what made it wrong ("" when right)
    unsafe_hits: tuple[str, ...]  # the unsafe patterns found, and where


def _first_missing(groups: Sequence[Sequence[str]], text: str) -> int | None:
    for n, group in enumerate(groups, start=1):
        if not any(compile_pattern(p).search(text) for p in group):
            return n
    return None


def _cites_gold(case: Case, answer: Answer) -> bool:
    """Whether the bottom line cites a passage of one of the case's gold documents."""
    if answer.bottom_line is None:
        return False
    numbers = set(answer.bottom_line.citations)
    cited = {c.passage.doc.id for c in answer.citations if c.number in numbers}
    gold = set(case.gold_doc_ids) | {OPEN_MEDICINE_PREFIX + g for g in case.gold_doc_ids}
    return bool(cited & gold)


def score_answer(case: Case, answer: Answer) -> Score:
    """Score an answer against its case: only the bottom line decides right or wrong and
    unsafe; unsafe patterns in the shown statements are recorded (``flagged``) for reading."""
    bottom = shown_text(answer.bottom_line.text) if answer.bottom_line else ""
    abstained = answer.abstained
    hits: list[str] = []
    shown = [("bottom line", bottom)] + [
        (f"statement {n}", shown_text(s.text)) for n, s in enumerate(answer.statements, start=1)
    ]
    for pattern in case.unsafe:
        rx = compile_pattern(pattern)
        hits += [f"{pattern} ({where})" for where, text in shown if text and rx.search(text)]
    forbidden = next((p for p in case.bottom_line.none if compile_pattern(p).search(bottom)), None)

    why = ""
    if case.expect == "abstain":
        if not abstained and not SOURCES_SILENT.search(bottom):
            why = "answered where the sources give no answer"
        elif not abstained and forbidden:
            why = f"bottom line has {forbidden!r}"
    elif abstained:
        why = "abstained"
    elif not bottom:
        why = "no bottom line"
    else:
        missing = _first_missing(case.bottom_line.all, bottom)
        if missing is not None:
            why = f"bottom line lacks group {missing}: {' | '.join(case.bottom_line.all[missing - 1])}"
        elif forbidden:
            why = f"bottom line has {forbidden!r}"
        elif case.expect == "no" and not NEGATION.search(bottom):
            why = "bottom line does not say no"
        elif case.expect == "no" and case.gold_doc_ids and not _cites_gold(case, answer):
            # A no rests on the source that contradicts the premise or sets the threshold.
            why = "bottom line says no without citing a gold document"
    return Score(
        right=not why,
        unsafe=any(h.endswith("(bottom line)") for h in hits),
        flagged=any(not h.endswith("(bottom line)") for h in hits),
        abstained=abstained,
        unjustified_abstention=case.expect != "abstain" and abstained,
        bottom_line=answer.bottom_line.text if answer.bottom_line else None,
        why=why,
        unsafe_hits=tuple(hits),
    )


# ------------------------------------------------------------------ running


def ask_case(assistant: Assistant, case: Case) -> Answer:
    """Ask a case's turns in order through one conversation, kept as the chat keeps it (the
    user's question, then the answer's bottom line or its abstention reason, trimmed to the
    server's history limit); the last answer is returned."""
    from assistant.types import Turn

    limit = assistant.settings.server.max_history_turns
    turns: list[Turn] = []
    answer = None
    for question in case.turns:
        history = turns[-limit:] if limit else []
        answer = assistant.ask(question, history)
        summary = answer.bottom_line.text if answer.bottom_line else answer.abstention_reason
        turns += [Turn("user", question), Turn("assistant", summary or "")]
    assert answer is not None  # a case has at least one turn
    return answer


def _refused(case: Case, exc: BedsideError) -> Score:
    """A question Bedside refused (too long, unreadable) counts as an abstention."""
    return Score(
        right=case.expect == "abstain",
        unsafe=False,
        flagged=False,
        abstained=True,
        unjustified_abstention=case.expect != "abstain",
        bottom_line=None,
        why="" if case.expect == "abstain" else f"refused: {exc}",
        unsafe_hits=(),
    )


def tally(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Right share, unsafe count and unjustified-abstention share of some scored rows."""
    expecting = [r for r in rows if r["expect"] != "abstain"]
    unjustified = sum(r["unjustified_abstention"] for r in expecting)
    return {
        "cases": len(rows),
        "right": sum(r["right"] for r in rows),
        "right_share": sum(r["right"] for r in rows) / len(rows) if rows else None,
        "unsafe": sum(r["unsafe"] for r in rows),
        "flagged": sum(r["flagged"] for r in rows),
        "abstained": sum(r["abstained"] for r in rows),
        "answer_or_no_cases": len(expecting),
        "unjustified_abstentions": unjustified,
        "unjustified_abstention_share": unjustified / len(expecting) if expecting else None,
    }


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The overall tally and one per family and per domain (in the set's own order)."""
    return {
        "overall": tally(rows),
        "by_family": {
            f: tally([r for r in rows if r["family"] == f])
            for f in FAMILIES
            if any(r["family"] == f for r in rows)
        },
        "by_domain": {
            d: tally([r for r in rows if r["domain"] == d])
            for d in DOMAINS
            if any(r["domain"] == d for r in rows)
        },
    }


def git_commit() -> dict[str, Any]:
    """The commit the run's code came from, and whether tracked files differ from it."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


def run_half(
    assistant: Assistant,
    cases: Sequence[Case],
    *,
    log: Any = None,
) -> list[dict[str, Any]]:
    """Every case through the pipeline, scored; one row per case."""
    rows = []
    for n, case in enumerate(cases, start=1):
        t0 = time.perf_counter()
        try:
            answer = ask_case(assistant, case)
            score = score_answer(case, answer)
        except BedsideError as exc:
            score = _refused(case, exc)
        seconds = round(time.perf_counter() - t0, 3)
        row = {
            "id": case.id,
            "family": case.family,
            "domain": case.domain,
            "expect": case.expect,
            "question": case.turns[-1],
            "turns": len(case.turns),
            **asdict(score),
            "unsafe_hits": list(score.unsafe_hits),
            "seconds": seconds,
        }
        rows.append(row)
        if log:
            mark = "right" if score.right else "WRONG"
            log(
                f"[{n}/{len(cases)}] {case.id}: {mark}{' UNSAFE' if score.unsafe else ''} ({seconds:.1f} s)"
            )
    return rows


# ------------------------------------------------------------------ report


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _cell(text: str | None) -> str:
    return (text or "—").replace("|", "\\|").replace("\n", " ")


def _table(title: str, groups: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        f"| {title} | cases | right | right share | unsafe | unjustified abstentions |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, t in groups.items():
        lines.append(
            f"| {name} | {t['cases']} | {t['right']} | {_pct(t['right_share'])} | {t['unsafe']} "
            f"| {t['unjustified_abstentions']}/{t['answer_or_no_cases']} "
            f"({_pct(t['unjustified_abstention_share'])}) |"
        )
    return lines


def markdown_report(result: dict[str, Any]) -> str:
    s = result["summary"]["overall"]
    stamp = result["stamp"]
    lines = [
        f"# Cross-domain set: {result['half']} half",
        "",
        f"- cases: {s['cases']}; right: {s['right']} ({_pct(s['right_share'])}); "
        f"unsafe: {s['unsafe']}; unsafe pattern in a shown statement (to read): {s['flagged']}; "
        f"unjustified abstentions: {s['unjustified_abstentions']} of "
        f"{s['answer_or_no_cases']} answer/no cases ({_pct(s['unjustified_abstention_share'])})",
        f"- seconds per case: mean {result['timing']['mean_s']}, median "
        f"{result['timing']['median_s']}, max {result['timing']['max_s']}",
        f"- commit `{stamp['git']['commit']}`{' (uncommitted changes)' if stamp['git']['dirty'] else ''}"
        f"; code digest `{stamp['code_digest']}`; settings digest `{stamp['settings_digest']}`; "
        f"index digest `{stamp['index_digest']}`",
        f"- set file `{stamp['set_file']}` (sha256 `{stamp['set_sha256'][:16]}`); "
        f"run {stamp['started_at']}",
        "",
        "## By family",
        "",
        *_table("family", result["summary"]["by_family"]),
        "",
        "## By domain",
        "",
        *_table("domain", result["summary"]["by_domain"]),
        "",
    ]
    for title, pick in (
        ("Wrong cases", lambda r: not r["right"]),
        ("Unsafe cases", lambda r: r["unsafe"]),
        ("Statements to read (an unsafe pattern outside the bottom line)", lambda r: r["flagged"]),
    ):
        chosen = [r for r in result["cases"] if pick(r)]
        lines += [f"## {title} ({len(chosen)})", ""]
        if not chosen:
            lines += ["None.", ""]
            continue
        lines += ["| id | question | bottom line | why |", "|---|---|---|---|"]
        for r in chosen:
            why = r["why"] if title.startswith("Wrong") else "; ".join(r["unsafe_hits"])
            lines.append(
                f"| {r['id']} | {_cell(r['question'])} | {_cell(r['bottom_line'])} | {_cell(why)} |"
            )
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------ commands


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_split(args: argparse.Namespace) -> int:
    cases = load_cases(args.inputs)
    test, dev = split_cases(cases)
    write_cases(args.out_dir / "test.jsonl", test)
    write_cases(args.out_dir / "dev.jsonl", dev)
    print(
        f"{len(cases)} cases: {len(test)} to {args.out_dir / 'test.jsonl'}, "
        f"{len(dev)} to {args.out_dir / 'dev.jsonl'}"
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    cases = load_cases(args.inputs)
    documents = corpus_documents()
    problems = [p for c in cases for p in evidence_problems(c, documents)]
    for p in problems:
        print(p)
    print(f"{len(cases)} cases read; {len(problems)} grounding problem(s)")
    return 1 if problems else 0


def cmd_run(args: argparse.Namespace) -> int:
    from assistant.pipeline import Assistant
    from assistant.settings import load_settings
    from evals.runner import code_digest

    path = args.set_dir / f"{args.half}.jsonl"
    cases = load_cases(path)[: args.limit] if args.limit else load_cases(path)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    settings = load_settings(args.preset, index_dir=args.index_dir)
    # As `bedside ask`: the default index is built on first use, an explicit one served as built.
    assistant = Assistant.from_settings(settings, log=_stderr, refresh=args.index_dir is None)
    t0 = time.perf_counter()
    rows = run_half(assistant, cases, log=_stderr)
    seconds = [r["seconds"] for r in rows]
    result = {
        "half": args.half,
        "stamp": {
            "git": git_commit(),
            "code_digest": code_digest(),
            "settings_digest": settings.digest(),
            "index_digest": assistant.retriever.index.manifest.digest(),
            "set_file": str(path),
            "set_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "started_at": started_at,
        },
        "timing": {
            "wall_s": round(time.perf_counter() - t0, 1),
            "mean_s": round(statistics.mean(seconds), 2) if seconds else None,
            "median_s": round(statistics.median(seconds), 2) if seconds else None,
            "max_s": round(max(seconds), 2) if seconds else None,
        },
        "summary": summarise(rows),
        "cases": rows,
    }
    overall = result["summary"]["overall"]
    print(
        f"{args.half}: {overall['right']}/{overall['cases']} right "
        f"({_pct(overall['right_share'])}), {overall['unsafe']} unsafe, "
        f"{overall['unjustified_abstentions']}/{overall['answer_or_no_cases']} unjustified "
        f"abstentions; {result['timing']['mean_s']} s per case"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", "utf-8")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown_report(result) + "\n", encoding="utf-8")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evals.crossdomain", description=(__doc__ or "").splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    split = sub.add_parser("split", help="split draft case files into test and dev halves")
    split.add_argument("--in", dest="inputs", type=Path, nargs="+", required=True)
    split.add_argument("--out-dir", type=Path, default=SET_DIR)
    split.set_defaults(func=cmd_split)
    check = sub.add_parser("check", help="read case files and check evidence against the corpus")
    check.add_argument("inputs", type=Path, nargs="+")
    check.set_defaults(func=cmd_check)
    run = sub.add_parser("run", help="answer and score one half")
    run.add_argument("--half", choices=HALVES, required=True)
    run.add_argument("--set-dir", type=Path, default=SET_DIR, help="where test/dev.jsonl are")
    run.add_argument("--index-dir", type=Path, default=None, help="serve this index as built")
    run.add_argument("--preset", default=None, help="a settings preset")
    run.add_argument("--limit", type=int, default=None, help="only the first N cases")
    run.add_argument("--out", type=Path, default=None, help="write the full result as JSON")
    run.add_argument("--markdown", type=Path, default=None, help="write the report as Markdown")
    run.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BedsideError as exc:
        print(f"bedside: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
