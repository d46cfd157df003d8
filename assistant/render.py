"""Markdown for an answer: bold bottom line, sections by source type, withheld notices
(unsupported, and by the dose check), the dose check, the generator's notes, references, related questions, review status and the disclaimer."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from functools import lru_cache
from pathlib import Path

from assistant.markup import inline, link_hosts, source_link
from assistant.types import SECTION_ORDER, SECTION_TITLES, Audience, Citation, Statement, Withheld
from corpus.yamlio import load_yaml
from guardrails.display import display_unit
from guardrails.types import Finding, Verdict

DISCLAIMER = (
    "Bedside is for healthcare professionals. It is not a substitute for clinical judgement: "
    "verify every dose and recommendation against the primary source before acting on it."
)
PATIENT_DISCLAIMER = (
    "This is general information, not medical advice. Talk to your care team before starting, "
    "stopping or changing any medicine."
)
PENDING = "pending clinical review"

GLOSSARY_DATA = Path(__file__).resolve().parent / "data" / "glossary.yaml"


@lru_cache(maxsize=1)
def glossary() -> dict[str, str]:
    """Plain-language explanations shown to patients next to the exact quotes (never inside
    them): term -> plain words (``assistant/data/glossary.yaml``)."""
    raw = load_yaml(GLOSSARY_DATA.read_text(encoding="utf-8"))
    return {str(term): str(words) for term, words in (raw.get("terms") or {}).items()}


def review_status(citations: Sequence[Citation]) -> str:
    statuses = {c.passage.doc.review_status for c in citations if c.passage.doc.review_status}
    if any(PENDING in s for s in statuses):
        return PENDING
    return "; ".join(sorted(statuses)) or "published source text (not reviewed by Bedside)"


def _line(s: Statement, hosts: Collection[str] = ()) -> str:
    """A statement as shown: its text made inert (assistant.markup), then its markers."""
    return f"{inline(s.text, hosts)} " + "".join(f"[{n}]" for n in s.citations)


_EMPHASIS = re.compile(r"\*\*|__")
TAGS: dict[str, str] = {
    "institution": "Local protocol",
    "guideline": "Guideline",
    "label": "FDA label",
    "research": "Research",
    "reference": "Reference",
}


def _bold(s: Statement, hosts: Collection[str]) -> str:
    """The bottom line in bold; the quote's own bold marks would close it early."""
    return f"**{_EMPHASIS.sub('', _line(s, hosts)).strip()}**"


def _tagged(s: Statement, hosts: Collection[str]) -> str:
    tag = "Computed from the dose reference" if s.computed else TAGS.get(s.section, s.section)
    return f"- *{tag}:* {_line(s, hosts)}"


def _body(
    statements: Sequence[Statement], layout: str, intent: str, hosts: Collection[str]
) -> list[str]:
    out: list[str] = []
    if layout == "source":
        for kind in SECTION_ORDER:
            group = [s for s in statements if s.section == kind and not s.computed]
            if group:
                out += [
                    "",
                    f"#### {SECTION_TITLES[kind]}",
                    *[f"- {_line(s, hosts)}" for s in group],
                ]
        computed = [s for s in statements if s.computed]
        if computed:
            out += ["", "#### Dose for this patient", *[_tagged(s, hosts) for s in computed]]
        return out
    from assistant.evidence import intent_title, task_titles

    titles = task_titles()
    order = list(titles)
    groups: dict[str, list[Statement]] = {}
    for s in statements:
        task = s.task or f"intent:{intent}"
        groups.setdefault(task, []).append(s)
    for task in sorted(groups, key=lambda t: order.index(t) if t in order else len(order)):
        title = titles.get(task) or intent_title(task.removeprefix("intent:"))
        out += ["", f"#### {title}", *[_tagged(s, hosts) for s in groups[task]]]
    return out


def _heading(c: Citation) -> str:
    """The most specific heading of a cited passage, unless it only repeats the title."""
    d = c.passage.doc
    path = [h for h in c.passage.chunk.section_path if h.strip()]
    title = d.title.lower()
    while path and (path[0].lower() in title or title[:24] in path[0].lower()):
        path.pop(0)
    return path[-1] if path else (d.section or "")


def _icon(f: Finding) -> str:
    # ✗ rather than ⛔: the fonts that ship with Debian and gradio have no glyph for ⛔.
    return {"info": "✓", "warn": "⚠", "block": "✗"}[f.severity]


def dose_check_lines(verdict: Verdict) -> list[str]:
    lines = []
    for f in verdict.findings:
        if f.rule_id in ("NUMBER_UNGROUNDED", "CITATION_UNKNOWN") or f.span[1] - f.span[0] > 200:
            detail = f.message
        else:
            detail = f"{f.text} — {f.message}"
        if f.expected and f.severity != "info":
            detail += f" Expected: {f.expected}."
        lines.append(f"- {_icon(f)} `{f.rule_id}` {inline(display_unit(detail))}")
    # The same dose checked twice the same way (the bottom line and a quote) is listed once.
    return list(dict.fromkeys(lines))


WITHHELD_TITLES: dict[str, str] = {
    "unsupported": "Withheld: no source supports it",
    "dose_check": "Withheld by the dose check",
}
NOTES_TITLE = "Generator notes"


def _withheld_lines(withheld: Sequence[Withheld], title: str) -> list[str]:
    if not withheld:
        return []
    out = ["", f"#### {title}"]
    # Statements withheld for the same reasons are one notice, with their count.
    groups: dict[tuple[str, str | None], int] = {}
    for w in withheld:
        why = display_unit("; ".join(dict.fromkeys(r.rstrip(".") for r in w.reasons)))
        groups[(why, w.replacement)] = groups.get((why, w.replacement), 0) + 1
    for (why, replacement), n in groups.items():
        what = "A statement was" if n == 1 else f"{n} statements were"
        out.append(f"- ✗ {what} withheld: {inline(why)}.")
        if replacement:
            out.append(f"  - The reference states: {inline(replacement)}")
    return out


def glossary_for(texts: Sequence[str]) -> list[str]:
    joined = " ".join(texts)
    found = []
    for term, meaning in glossary().items():
        exact = term.isupper() or "-" in term  # acronyms match as written
        if (term in joined) if exact else (term.lower() in joined.lower()):
            found.append(f"- **{term}**: {meaning}")
    return found


def render(
    *,
    bottom_line: Statement | None,
    statements: Sequence[Statement],
    withheld: Sequence[Withheld],
    citations: Sequence[Citation],
    verdict: Verdict,
    related: Sequence[str],
    audience: Audience,
    status: str,
    abstention: str | None = None,
    closest: Sequence[str] = (),
    notice: str | None = None,
    layout: str = "task",
    intent: str = "other",
    extra_link_hosts: Collection[str] = (),
    notes: Sequence[str] = (),
) -> str:
    """The answer as Markdown (``notes``: the generator's, under "Generator notes"). Every piece of source or generator text goes through
    ``assistant.markup.inline``; links are live only to the hosts of the cited sources'
    url fields and ``extra_link_hosts``."""
    hosts = link_hosts((c.passage.doc.url for c in citations), extra_link_hosts)
    out: list[str] = []
    if notice:
        out.append(f"**{inline(notice)}**")
        if closest:
            out += ["", "#### Closest sources", *[f"- {inline(c)}" for c in closest]]
    if abstention:
        out.append(f"**{inline(abstention)}**")
        if closest:
            out += ["", "#### Closest sources", *[f"- {inline(c)}" for c in closest]]
    if bottom_line:
        out.append(_bold(bottom_line, hosts))
    out += _body(statements, layout, intent, hosts)
    for kind, title in WITHHELD_TITLES.items():
        out += _withheld_lines([w for w in withheld if w.why == kind], title)
    checks = dose_check_lines(verdict)
    if checks:
        out += ["", "#### Dose check", *checks]
    if notes:
        out += ["", f"#### {NOTES_TITLE}", *[f"- {inline(n)}" for n in notes]]
    if audience == "patient":
        terms = glossary_for(
            [s.text for s in ([bottom_line] if bottom_line else []) + list(statements)]
        )
        if terms:
            out += ["", "#### What these terms mean", *terms]
        out += [
            "",
            "**Talk to your care team** about what this means for you: they know your "
            "medical history, your other medicines and your test results.",
        ]
    if citations:
        out += ["", "#### References"]
        seen: set[int] = set()
        for c in citations:
            if c.number in seen:
                continue
            seen.add(c.number)
            d = c.passage.doc
            where = _heading(c)
            parts = [
                f"[{c.number}] {inline(d.title)}",
                inline(d.organization or ""),
                str(d.year or ""),
                inline(where),
                f"p. {c.page}" if c.page else "",
                source_link(d.url, hosts),
            ]
            out.append("- " + " · ".join(p for p in parts if p))
    if related:
        out += ["", "#### Related questions", *[f"- {inline(q)}" for q in related]]
    out += [
        "",
        f"*Review status: {inline(status)}.*",
        "",
        f"*{PATIENT_DISCLAIMER if audience == 'patient' else DISCLAIMER}*",
    ]
    return "\n".join(out).strip() + "\n"


def without_sections(markdown: str, titles: Sequence[str]) -> str:
    """``markdown`` without the ``#### title`` sections named (a view that shows them
    elsewhere, such as the chat's Dose check panel, drops them from the text)."""
    out: list[str] = []
    skipping = False
    for line in markdown.split("\n"):
        if line.startswith("#### "):
            skipping = line[5:].strip() in titles
        elif skipping and line.startswith("*") and not line.startswith("* "):
            skipping = False  # the italic review status and disclaimer close the answer
        if not skipping:
            out.append(line)
    return "\n".join(out)
