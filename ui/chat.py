"""The Gradio chat mounted at /chat/: conversation, audience, patient facts, the Dose check
panel, the Sources panel, related questions as buttons, feedback, and a fixed disclaimer.

Every answer shown comes from ``Service.ask`` (a guarded ``Answer``). Text from questions
and sources is escaped before it reaches the page (``assistant.markup``), so HTML, images
and links in a question or a source stay inert; every fragment handed to the page then goes
through nh3 (the ammonia sanitizer) with a short allowlist of tags, so the page never gets
a tag, attribute or link Bedside did not write.

What a clinician sees differs from the API's Markdown in three ways: a new answer is shown
from its top (the chat does not follow it to its end); the guard's marks are text badges,
because Debian's fonts (DejaVu, and gradio's IBM Plex) have no glyph for ⛔; and the guard's
pint unit names are written as clinicians write them (``guardrails.display``). Quotes from
sources are shown verbatim, their Markdown emphasis rendered.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection
from typing import Any

import nh3
from pydantic import ValidationError

from assistant.markup import inline, link_hosts, safe_url
from assistant.render import DISCLAIMER, NOTES_TITLE, PATIENT_DISCLAIMER, without_sections
from assistant.types import Answer, Citation
from corpus.errors import BedsideError, InputError
from guardrails.display import display_unit
from guardrails.patient import Patient, PatientInput
from guardrails.types import Finding
from ui.access import Identity
from ui.gradio_env import gr
from ui.library_page import LIBRARY_PATH, library_url
from ui.security import client_message
from ui.service import AskRequest, FeedbackRequest, Service, TurnIn

EXAMPLES = (
    "What are the management options for patients who are heparin (unfractionated heparin) "
    "non-responders?",
    "What is the best course of action for a patient in septic shock who experiences a "
    "thromboembolic event despite receiving LMWH thromboprophylaxis?",
    "What is the bivalirudin dose for heparin-induced thrombocytopenia?",
    "How should enoxaparin be dosed when CrCl is below 30 mL/min?",
)
RELATED_SLOTS = 4
_MARKER = re.compile(r"\[(\d{1,3})\]")
SEXES = ("unknown", "female", "male")
# Severity -> the badge shown for it. ⛔ has no glyph in the fonts that ship (an empty box
# on Debian), so the UI writes every mark as a word on a coloured badge.
_BADGES = {"info": "OK", "warn": "Warning", "block": "Withheld"}
_MARKS = {"✓": "info", "⚠": "warn", "⛔": "block", "✗": "block"}
# A Bedside mark stands before a rule id (render.py's Dose check lines) or opens a Withheld
# line; a mark in a quoted sentence is left alone, even one that opens the sentence (source
# text cannot write a rule id: its backticks are escaped).
_MARK_AT = re.compile(
    r"(?m)(^[ \t]*(?:[-*] )?(?:\*\*)?|(?<=[ \t]))(✓|⚠|⛔|✗)\ufe0f?(?=[ \t]+`[A-Z_]+`)"
    r"|(^[ \t]*[-*] )(✓|⚠|⛔|✗)\ufe0f?(?=[ \t]+(?:A statement was|\d+ statements were) withheld)"
)
_PINT_NAME = re.compile(r"\b(?:USP|international)_unit")

# After an answer arrives: scroll the chat so the new answer's top (with its question, when
# that fits) is in view. The Chatbot runs with autoscroll=False so it does not jump to the end.
SHOW_ANSWER_TOP_JS = """
() => {
  const show = () => {
    for (const chat of document.querySelectorAll('#bedside-chat')) {
      const bots = chat.querySelectorAll("[data-testid='bot']");
      if (!bots.length) continue;
      const bot = bots[bots.length - 1];
      let box = bot.parentElement;
      while (box && box !== chat.parentElement) {
        const y = getComputedStyle(box).overflowY;
        if ((y === 'auto' || y === 'scroll') && box.scrollHeight > box.clientHeight) break;
        box = box.parentElement;
      }
      if (!box || box === chat.parentElement) continue;
      const users = chat.querySelectorAll("[data-testid='user']");
      const user = users.length ? users[users.length - 1] : null;
      const origin = box.getBoundingClientRect().top - box.scrollTop;
      let target = bot.getBoundingClientRect().top - origin;
      if (user) {
        const above = user.getBoundingClientRect().top - origin;
        if (above < target && target - above < box.clientHeight / 3) target = above;
      }
      box.scrollTop = Math.max(0, target - 8);
    }
  };
  requestAnimationFrame(() => requestAnimationFrame(show));
  setTimeout(show, 400);
}
"""

CSS = """
#bedside-disclaimer { position: sticky; bottom: 0; z-index: 10; padding: 8px 12px;
  background: var(--background-fill-secondary); border-top: 1px solid var(--border-color-primary);
  font-size: 0.9em; }
/* The bar speaks to the audience chosen in the panel: patients get the patient's words. */
.bedside-for-patient { display: none; }
.gradio-container:has(#bedside-audience input[value="patient"]:checked) .bedside-for-patient {
  display: inline; }
.gradio-container:has(#bedside-audience input[value="patient"]:checked) .bedside-for-clinician {
  display: none; }
/* The conversation takes the window's height (less the question row and the bar), never
   less than a screenful of text. */
#bedside-chat { height: calc(100vh - 230px) !important; min-height: 600px;
  max-height: none !important; }
/* The scroll-to-end button keeps to a gutter on the right, clear of the text. */
#bedside-chat .bubble-wrap { padding-right: 48px; }
#bedside-chat .scroll-down-button-container { left: auto; right: 6px; transform: none; }
.bedside-badge { display: inline-block; padding: 2px 8px; border-radius: 10px;
  background: #fff4ce; color: #5c4400; font-size: 0.85em; }
#sources ol { width: 100%; font-size: 0.9em; }
#dose-check .dose-check-panel { font-size: 1rem; line-height: 1.45; }
#dose-check table { width: 100%; }
#dose-check table, #dose-check tr { border-collapse: collapse; border: 0 !important; }
#dose-check td { vertical-align: top; padding: 6px 4px; border: 0;
  border-bottom: 1px solid var(--border-color-primary); }
#dose-check ul { padding-left: 0; list-style: none; }
#dose-check .dose-summary { font-weight: 700; }
#dose-check details { margin-top: 8px; }
#dose-check summary { cursor: pointer; font-weight: 700; }
#dose-check .finding-reference { color: var(--body-text-color-subdued); font-size: 0.9em; }
.bedside-mark { display: inline-block; min-width: 4.6em; padding: 1px 6px; border-radius: 4px;
  font-size: 0.8em; font-weight: 700; line-height: 1.5; text-align: center;
  white-space: nowrap; vertical-align: baseline; }
.bedside-mark.mark-info { background: #dff3df; color: #0b5a0b; }
.bedside-mark.mark-warn { background: #fff0c2; color: #6b4100; }
.bedside-mark.mark-block { background: #fbe0e2; color: #8f000d; }
#sources li { margin-bottom: 8px; }
#sources blockquote { margin: 4px 0; padding-left: 8px; border-left: 3px solid var(--border-color-primary); }
#sources blockquote p { margin: 0; }
#sources blockquote ul { margin: 2px 0; padding-left: 18px; }
a.cite { text-decoration: none; font-weight: 700; }
"""


def theme() -> Any:
    """Gradio's default look with fonts bundled in the gradio wheel at weights 400 and 700
    (no web fonts fetched from anywhere)."""
    return gr.themes.Default(
        font=[
            gr.themes.LocalFont("IBM Plex Sans", weights=(400, 700)),
            "ui-sans-serif",
            "system-ui",
            "sans-serif",
        ],
        font_mono=[
            gr.themes.LocalFont("IBM Plex Mono", weights=(400, 700)),
            "ui-monospace",
            "monospace",
        ],
    )


# ------------------------------------------------------------------ rendering (pure)


def disclaimer_html(status: str) -> str:
    """The fixed bar under the chat, in both audiences' words; the CSS shows the one that
    matches the audience chosen in the panel (a patient never reads "for healthcare
    professionals")."""
    return (
        f'<div><b>Disclaimer.</b> <span class="bedside-for-clinician">{html.escape(DISCLAIMER)}'
        f'</span><span class="bedside-for-patient">{html.escape(PATIENT_DISCLAIMER)}</span> '
        f"Review status of the bundled sources: {html.escape(status)}.</div>"
    )


# What the chat itself writes into a message and its panels; nh3 drops anything else.
_TAGS = {
    "a", "b", "blockquote", "code", "details", "div", "em", "h4", "li", "ol", "p", "q", "small",
    "span", "strong", "summary", "table", "td", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"class", "href", "rel", "target"},
    "blockquote": {"class"},
    "details": {"class"},
    "div": {"class"},
    "li": {"class", "id", "value"},
    "ol": {"class"},
    "p": {"class"},
    "table": {"class"},
    "ul": {"class"},
    "span": {"class"},
    "td": {"class"},
    "tr": {"class", "data-rule"},
}
_CITE_HREF = re.compile(r"#src-\d{1,3}")
# The library's own pages (ui.library_page.library_url): a path on this server, its
# parameters percent-encoded, ending at the cited passage's anchor.
_LIBRARY_HREF = re.compile(
    re.escape(LIBRARY_PATH) + r"(?:/[A-Za-z0-9%._~-]+(?:\?[A-Za-z0-9%._~=&-]*#cited)?)?"
)
# The longest quote a source's link carries (longer ones highlight their whole chunk).
LINK_QUOTE_CHARS = 300


def clean_html(fragment: str, hosts: Collection[str] = ()) -> str:
    """``fragment`` through nh3: only the tags and attributes above, and an ``href`` only
    to a Sources entry (``#src-n``), to the library's pages, or to an http(s) url on one of
    ``hosts``."""

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if attribute != "href":
            return value
        if (
            _CITE_HREF.fullmatch(value)
            or _LIBRARY_HREF.fullmatch(value)
            or safe_url(value, hosts) is not None
        ):
            return value
        return None

    return nh3.clean(
        fragment,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        attribute_filter=keep,
        url_schemes={"http", "https"},
        strip_comments=True,
        link_rel=None,  # a link to a source says rel="noopener noreferrer" itself
    )


def _inert(text: str) -> str:
    """A question or an error message as inert Markdown (no HTML, images or links)."""
    return inline(text)


def mark_badge(severity: str) -> str:
    """The badge that stands for a guard mark (✓ OK, ⚠ Warning, ⛔ Withheld)."""
    return f'<span class="bedside-mark mark-{severity}">{_BADGES[severity]}</span>'


def _badges(text: str) -> str:
    def badge(m: re.Match[str]) -> str:
        lead, mark = (m.group(1), m.group(2)) if m.group(2) else (m.group(3), m.group(4))
        return lead + mark_badge(_MARKS[mark])

    return _MARK_AT.sub(badge, text)


def _guard_units(text: str) -> str:
    """Clinicians' units on the lines the guard wrote. Only those lines carry pint names
    (``USP_unit``); a quoted source sentence never does, so quotes stay verbatim."""
    return "\n".join(
        display_unit(line) if _PINT_NAME.search(line) else line for line in text.split("\n")
    )


def chat_markdown(answer: Answer) -> str:
    """The answer as shown in the chat: the Dose check and related questions have their own
    panel and buttons; the generator's notes are folded in a ``<details>``; citation markers link to the Sources panel; marks are badges and the
    guard's units are clinicians' units."""
    text = without_sections(answer.markdown, ("Dose check", "Related questions", NOTES_TITLE))
    text = _with_notes(text, answer.notes)
    text = _badges(_guard_units(text))
    text = _MARKER.sub(r'<a class="cite" href="#src-\1">[\1]</a>', text)
    # The Markdown was made inert by render (assistant.markup); nh3 guarantees it. It writes
    # ">" as "&gt;", which would end a Markdown quote; a ">" outside a tag is no markup.
    return clean_html(text).replace("&gt;", ">")


def _with_notes(text: str, notes: tuple[str, ...]) -> str:
    """The generator's notes, folded, before the review status that closes the answer."""
    if not notes:
        return text
    items = "".join(f"<li>{html.escape(display_unit(n))}</li>" for n in notes)
    folded = (
        f'\n<details class="generator-notes"><summary>{NOTES_TITLE} ({len(notes)})</summary>'
        f"<ul>{items}</ul></details>\n"
    )
    at = text.rfind("\n*Review status:")
    return text + folded if at < 0 else text[:at] + "\n" + folded + text[at:]


def _finding_row(f: Finding) -> str:
    where = ""
    if f.citation:
        where = f'<div class="finding-reference">Reference: {html.escape(f.citation)}</div>'
    expected = f"<div>Expected: {html.escape(display_unit(f.expected))}</div>" if f.expected else ""
    text = f.text if len(f.text) <= 200 else f.text[:200] + "…"
    return (
        f'<tr class="finding" data-rule="{html.escape(f.rule_id)}">'
        f'<td class="sev-{f.severity}">{mark_badge(f.severity)}</td>'
        f"<td><div><q>{html.escape(text)}</q> <small><code>{html.escape(f.rule_id)}</code>"
        f"</small></div><div>{html.escape(display_unit(f.message))}</div>"
        f"{expected}{where}</td></tr>"
    )


def _facts_line(answer: Answer, given: Patient | None) -> str:
    """The patient facts the check used: the answer's own reading of the conversation when
    it carries one, else the facts from the panel."""
    frame = getattr(answer, "frame", None)
    patient = getattr(frame, "patient", None) or given
    if patient is None or patient.is_empty():
        return "Patient facts: none given (no weight, renal, age or other band is excluded)."
    facts = patient.describe()
    if patient.crcl_ml_min is None and patient.crcl is not None:
        facts += " (CrCl by Cockcroft–Gault from age, weight, sex and serum creatinine)"
    return f"Patient facts used: {facts}."


def dose_check_html(answer: Answer, patient: Patient | None = None) -> str:
    """The Dose check panel as a summary a clinician reads first: one line of counts, the
    patient facts the check used, then the problems (statements withheld with the reference
    statement shown instead, blocking findings, then warnings) and, folded in a closed
    ``<details>``, the findings that passed."""
    v = answer.verdict
    blocks = [f for f in v.findings if f.severity == "block"]
    warns = [f for f in v.findings if f.severity == "warn"]
    passed = [f for f in v.findings if f.severity not in ("block", "warn")]
    by_dose = [w for w in answer.withheld if w.why == "dose_check"]
    unsupported = len(answer.withheld) - len(by_dose)
    if v.findings or v.checked_doses:
        summary = (
            f"{v.checked_doses} dose(s) checked · {len(by_dose)} withheld · "
            f"{len(warns)} warning(s) · {len(passed)} passed"
        )
    else:
        summary = "No doses or numbers to check in this answer."
    if unsupported:
        # Not the dose check's doing: said apart so nobody reads it as a dose problem.
        summary += f" · {unsupported} more withheld because no source supports them"
    withheld = "".join(
        f'<li class="withheld">{mark_badge("block")} <q>{_inline_markdown(w.statement.text)}</q> — '
        f"{html.escape(display_unit('; '.join(w.reasons)))}"
        + (
            f"<div>The reference states: {html.escape(w.replacement)}</div>"
            if w.replacement
            else ""
        )
        + "</li>"
        for w in by_dose
    )
    problem_rows = "".join(_finding_row(f) for f in (*blocks, *warns))
    ok_rows = "".join(_finding_row(f) for f in passed)
    folded = (
        f'<details class="dose-ok"><summary>{len(passed)} check(s) passed</summary>'
        f"<table>{ok_rows}</table></details>"
        if ok_rows
        else ""
    )
    return clean_html(
        '<div class="dose-check-panel"><h4>Dose check</h4>'
        f'<p class="dose-summary">{html.escape(summary)}</p>'
        f'<p class="patient-facts"><small>{html.escape(_facts_line(answer, patient))}</small></p>'
        + (f'<ul class="dose-withheld">{withheld}</ul>' if withheld else "")
        + (f'<table class="dose-problems">{problem_rows}</table>' if problem_rows else "")
        + folded
        + "</div>"
    )


_CODE = re.compile(r"`([^`\n]+)`")
_STRONG = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_EM = re.compile(
    r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])|(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)"
)
_LINK = re.compile(r"\[([^\]\n]+)\]\((?:[^)\s]+)\)")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d{1,2}[.)])\s+")
_HEADING = re.compile(r"^\s*#{1,6}\s+")


def _inline_markdown(text: str) -> str:
    """One line of a quote as HTML: escaped first, then code, bold, italic and link text
    rendered; emphasis markers a quote cut in half (``**`` without its pair) are dropped."""
    out = html.escape(text, quote=False)
    out = _LINK.sub(r"\1", out)
    out = _CODE.sub(r"<code>\1</code>", out)
    out = _STRONG.sub(lambda m: f"<strong>{m.group(1) or m.group(2)}</strong>", out)
    out = _EM.sub(lambda m: f"<em>{m.group(1) or m.group(2)}</em>", out)
    return out.replace("**", "").replace("__", "")


def quote_html(quote: str) -> str:
    """A verbatim quote with its Markdown rendered (bold, italic, code, bullets, headings);
    its words are exactly the quote's."""
    parts: list[str] = []
    items: list[str] = []
    for line in quote.splitlines():
        if not line.strip():
            continue
        if _BULLET.match(line):
            items.append(f"<li>{_inline_markdown(_BULLET.sub('', line, count=1))}</li>")
            continue
        if items:
            parts.append(f"<ul>{''.join(items)}</ul>")
            items = []
        if _HEADING.match(line):
            parts.append(f"<p><strong>{_inline_markdown(_HEADING.sub('', line))}</strong></p>")
        else:
            parts.append(f"<p>{_inline_markdown(line.strip())}</p>")
    if items:
        parts.append(f"<ul>{''.join(items)}</ul>")
    return "".join(parts)


def _section(title: str, path: tuple[str, ...] | list[str]) -> str:
    """The section path without the document title it often repeats."""
    parts = [p for p in path if p]
    if parts and parts[0].strip().lower() == title.strip().lower():
        parts = parts[1:]
    return " > ".join(parts)


def _library_link(c: Citation) -> str:
    """The cited passage in the library, highlighted (a new tab: the chat stays as it is).
    The link carries the quote's span of the chunk as written, when it is short."""
    chunk = c.passage.chunk
    start, end = c.quote_start, c.quote_end
    if c.parts:
        start, end = min(a for a, _, _ in c.parts), max(b for _, b, _ in c.parts)
    quoted = chunk.text[start:end].strip() if 0 <= start < end <= len(chunk.text) else ""
    url = library_url(
        c.passage.doc.id, chunk.id, quoted if len(quoted) <= LINK_QUOTE_CHARS else None
    )
    return (
        f' <a class="library-link" href="{html.escape(url)}" target="_blank" '
        'rel="noopener noreferrer">in the library</a>'
    )


def sources_html(answer: Answer) -> str:
    """One entry per citation number: title, review status, organisation · year · section,
    a link, and every exact quote the answer cites from that passage (Markdown rendered)."""
    if not answer.citations:
        return "<h4>Sources</h4><p>No sources cited.</p>"
    by_number: dict[int, list[Citation]] = {}
    for c in answer.citations:
        quotes = by_number.setdefault(c.number, [])
        if all((q.quote_start, q.quote_end) != (c.quote_start, c.quote_end) for q in quotes):
            quotes.append(c)
    # A source links to its own url field (http or https), nothing else.
    hosts = link_hosts(c.passage.doc.url for c in answer.citations)
    items: list[str] = []
    for number, cited in by_number.items():
        c = cited[0]
        d = c.passage.doc
        meta = " · ".join(
            html.escape(str(x))
            for x in (
                d.organization,
                d.year,
                _section(d.title, c.passage.chunk.section_path),
                f"p. {c.page}" if c.page else None,
            )
            if x
        )
        url = safe_url(d.url or "", hosts)
        link = (
            f' <a href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">source</a>'
            if url
            else ""
        )
        status = (
            f' <span class="bedside-badge">{html.escape(d.review_status)}</span>'
            if d.review_status
            else ""
        )
        shown = "".join(
            f'<blockquote class="quote">{quote_html(q.quote)}</blockquote>' for q in cited
        )
        items.append(
            f'<li id="src-{number}" value="{number}"><b>{html.escape(d.title)}</b>{status}'
            f"<div><small>{meta}</small>{link}{_library_link(c)}</div>{shown}</li>"
        )
    return clean_html(f'<h4>Sources</h4><ol class="sources">{"".join(items)}</ol>', hosts)


_NUMBER = re.compile(r"\d+(?:[.,]\d+)?|[.,]\d+")


def _known(label: str, value: float | str | None) -> float | None:
    """A fact field's number, or None when it was left empty: empty is unknown, never 0.
    (Gradio's Number turns an empty field into 0, so the panel uses text fields.)"""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    if not text:
        return None
    if not _NUMBER.fullmatch(text):
        raise InputError(
            f"{label}: {text!r} is not a number; write it as digits (82, 1.6), "
            "or leave the field empty when it is not known."
        )
    return float(text.replace(",", "."))


def patient_input(
    weight: float | str | None,
    crcl: float | str | None,
    hepatic: bool,
    hit: bool,
    age: float | str | None = None,
    sex: str | None = None,
    creatinine: float | str | None = None,
) -> PatientInput:
    """The panel's patient facts as the guard reads them. An empty field is unknown; an
    unticked box is unknown (not "no"), so it never excludes a band. A value out of range
    raises pydantic's ValidationError, text that is no number an InputError."""
    return PatientInput(
        weight_kg=_known("Weight (kg)", weight),
        age=_known("Age (years)", age),
        sex="female" if sex == "female" else "male" if sex == "male" else None,
        serum_creatinine_mg_dl=_known("Serum creatinine (mg/dL)", creatinine),
        crcl_ml_min=_known("CrCl (mL/min)", crcl),
        hepatic_impairment=True if hepatic else None,
        hit=True if hit else None,
    )


# ------------------------------------------------------------------ the Blocks


def _fact_field(label: str, elem_id: str) -> Any:
    """A numeric patient fact as a one-line text field: empty means unknown."""
    return gr.Textbox(label=label, placeholder="unknown", max_lines=1, elem_id=elem_id)


def build_chat(service: Service) -> Any:
    status = "pending clinical review"

    def ask(
        question: str,
        messages: list[dict[str, Any]],
        turns: list[dict[str, str]],
        audience: str,
        weight: str | None,
        crcl: str | None,
        hepatic: bool,
        hit: bool,
        age: str | None,
        sex: str | None,
        creatinine: str | None,
        http: gr.Request,
    ) -> tuple[Any, ...]:
        question = (question or "").strip()
        messages = list(messages or [])
        turns = list(turns or [])
        hidden = [gr.update(visible=False, value="") for _ in range(RELATED_SLOTS)]
        if not question:
            return (messages, turns, "", gr.update(), gr.update(), None, "", gr.update(), *hidden)
        messages.append({"role": "user", "content": _inert(question)})
        try:
            patient = patient_input(weight, crcl, hepatic, hit, age, sex, creatinine)
            request = AskRequest(
                question=question,
                history=[TurnIn.model_validate(t) for t in turns],
                patient=patient,
                audience="patient" if audience == "patient" else "clinician",
            )
            answer = service.ask(request, Identity.from_headers(dict(http.headers)), "chat")
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            messages.append(
                {"role": "assistant", "content": f"⚠ {_inert(where)}: {_inert(err['msg'])}"}
            )
            return (messages, turns, "", gr.update(), gr.update(), None, "", gr.update(), *hidden)
        except BedsideError as exc:
            said, ref = client_message(exc)  # no host, user, socket or path in the chat
            said += f" (ref {ref})" if ref else ""
            messages.append({"role": "assistant", "content": f"⚠ {_inert(said)}"})
            return (messages, turns, "", gr.update(), gr.update(), None, "", gr.update(), *hidden)
        messages.append({"role": "assistant", "content": chat_markdown(answer)})
        summary = answer.bottom_line.text if answer.bottom_line else answer.abstention_reason
        turns += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": summary or ""},
        ]
        related = [
            gr.update(visible=True, value=q) for q in answer.related_questions[:RELATED_SLOTS]
        ]
        related += hidden[len(related) :]
        return (
            messages,
            turns,
            "",
            dose_check_html(answer, patient.to_patient()),
            sources_html(answer),
            answer.answer_id,
            "",
            # The question goes with its feedback only where the setting keeps questions.
            question if service.assistant.settings.server.feedback_store_questions else "",
            *related,
        )

    def feedback(rating: str, comment: str, answer_id: str | None, last_q: str) -> tuple[str, str]:
        if not answer_id:
            return "Ask a question first: feedback is about an answer.", comment
        try:
            request = FeedbackRequest.model_validate(
                {
                    "answer_id": answer_id,
                    "rating": rating,
                    "comment": comment or "",
                    "question": last_q or None,
                }
            )
        except ValidationError as exc:
            return f"⚠ {exc.errors()[0]['msg']}", comment
        service.record_feedback(request)
        return "Thank you: your feedback was saved.", ""

    def clear() -> tuple[Any, ...]:
        hidden = [gr.update(visible=False, value="") for _ in range(RELATED_SLOTS)]
        return ([], [], "", "", "", None, "", "", *hidden)

    with gr.Blocks(title="Bedside", analytics_enabled=False) as blocks:
        gr.HTML(
            "<h2 style='margin:0'>Bedside</h2><p style='margin:0'>Answers from guidelines, "
            "FDA drug labels and research, every sentence cited and every dose checked "
            f"before it is shown. <span class='bedside-badge'>Sources: {status}</span> "
            f"<a href='{LIBRARY_PATH}' target='_blank' rel='noopener' id='bedside-library'>What "
            "Bedside knows: the library</a></p>",
            elem_id="bedside-header",
        )
        # The conversation's state lives in the page, not in a server process: with several
        # worker processes each event may reach another one (see the event wiring below).
        turns = gr.JSON([], visible=False, elem_id="bedside-turns")
        answer_id = gr.Textbox(None, visible=False, elem_id="bedside-answer-id")
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    elem_id="bedside-chat",
                    # The window's height (CSS keeps a floor): a long answer is read in
                    # place, not through a 560 px slot.
                    height="calc(100vh - 230px)",
                    min_height=600,
                    max_height=None,
                    # Show a new answer from its top: the step after `ask` scrolls there.
                    autoscroll=False,
                    # No floating "Bedside" label: the page's header names it, and the label
                    # sat over the first letters of a question scrolled to the top.
                    label="Bedside",
                    show_label=False,
                    sanitize_html=True,
                    latex_delimiters=[],
                    feedback_options=None,
                    buttons=["copy"],
                    placeholder="Ask a clinical question. Answers quote their sources.",
                )
                with gr.Row():
                    question = gr.Textbox(
                        elem_id="bedside-question",
                        placeholder="Ask a clinical question…",
                        show_label=False,
                        scale=5,
                        max_lines=4,
                    )
                    ask_btn = gr.Button("Ask", variant="primary", elem_id="bedside-ask", scale=1)
                    clear_btn = gr.Button("New conversation", elem_id="bedside-clear", scale=1)
                with gr.Row(elem_id="bedside-related"):
                    related = [
                        gr.Button("", visible=False, size="sm", elem_classes=["related-question"])
                        for _ in range(RELATED_SLOTS)
                    ]
                gr.Examples(
                    examples=[[q] for q in EXAMPLES], inputs=[question], label="Example questions"
                )
                with gr.Accordion(
                    "Was this answer useful?", open=False, elem_id="bedside-feedback"
                ):
                    comment = gr.Textbox(label="Comment (optional)", max_lines=3)
                    with gr.Row():
                        # Words, not 👍/👎: the page loads no emoji font.
                        up = gr.Button("Yes, useful", elem_id="bedside-up", size="sm")
                        down = gr.Button("No, not useful", elem_id="bedside-down", size="sm")
                    thanks = gr.Markdown(elem_id="bedside-feedback-status")
            with gr.Column(scale=2):
                audience = gr.Radio(
                    ["clinician", "patient"],
                    value="clinician",
                    label="Which best describes you?",
                    elem_id="bedside-audience",
                )
                with gr.Accordion(
                    "Patient facts (optional, used by the dose check)",
                    open=False,
                    elem_id="bedside-patient",
                ):
                    gr.Markdown("Leave a field empty when it is not known.")
                    with gr.Row():
                        age = _fact_field("Age (years)", "bedside-age")
                        sex = gr.Radio(
                            list(SEXES), value="unknown", label="Sex", elem_id="bedside-sex"
                        )
                    with gr.Row():
                        weight = _fact_field("Weight (kg)", "bedside-weight")
                        creatinine = _fact_field("Serum creatinine (mg/dL)", "bedside-scr")
                    crcl = _fact_field(
                        "CrCl (mL/min; empty: Cockcroft–Gault from age, sex, weight and "
                        "creatinine)",
                        "bedside-crcl",
                    )
                    hepatic = gr.Checkbox(label="Hepatic impairment", elem_id="bedside-hepatic")
                    hit = gr.Checkbox(label="HIT (current or past)", elem_id="bedside-hit")
                dose_panel = gr.HTML(elem_id="dose-check", js_on_load=None)
                sources = gr.HTML(elem_id="sources", js_on_load=None)
        gr.HTML(disclaimer_html(status), elem_id="bedside-disclaimer", js_on_load=None)

        last_question = gr.Textbox("", visible=False, elem_id="bedside-last-question")
        inputs = [chatbot, turns, audience, weight, crcl, hepatic, hit, age, sex, creatinine]
        outputs = [
            chatbot, turns, question, dose_panel, sources, answer_id, thanks, last_question,
            *related,
        ]  # fmt: skip

        # Every event is one plain HTTP request (queue=False) carrying the whole state it
        # needs: gradio's queue joins with one request and streams the result on another,
        # and `bedside serve --workers N` may hand those to different processes, where the
        # stream finds no such event and the question is lost. Answers take their turn in
        # the service's own answer slots instead of gradio's queue. One request per question.
        for trigger in (ask_btn.click, question.submit):
            trigger(ask, [question, *inputs], outputs, queue=False).then(
                None, js=SHOW_ANSWER_TOP_JS
            )
        for button in related:
            button.click(ask, [button, *inputs], outputs, queue=False).then(
                None, js=SHOW_ANSWER_TOP_JS
            )
        up.click(
            lambda c, a, q: feedback("up", c, a, q),
            [comment, answer_id, last_question],
            [thanks, comment],
            queue=False,
        )
        down.click(
            lambda c, a, q: feedback("down", c, a, q),
            [comment, answer_id, last_question],
            [thanks, comment],
            queue=False,
        )
        clear_btn.click(clear, None, outputs, queue=False)
    return blocks
