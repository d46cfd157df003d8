"""The Gradio chat mounted at /chat/: conversation, audience, patient facts, the Dose check
panel, the Sources panel, related questions as buttons, feedback, and a fixed disclaimer.

Every answer shown comes from ``Service.ask`` (a guarded ``Answer``). Text from questions
and sources is escaped before it reaches the page, so HTML in a question stays inert.
"""

from __future__ import annotations

import html
import re
from typing import Any

from pydantic import ValidationError

from assistant.render import DISCLAIMER, without_sections
from assistant.types import Answer
from corpus.errors import BedsideError
from guardrails.patient import PatientInput
from guardrails.types import Finding
from ui.gradio_env import gr
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
_ICONS = {"info": "✓", "warn": "⚠", "block": "⛔"}

CSS = """
#bedside-disclaimer { position: sticky; bottom: 0; z-index: 10; padding: 8px 12px;
  background: var(--background-fill-secondary); border-top: 1px solid var(--border-color-primary);
  font-size: 0.9em; }
.bedside-badge { display: inline-block; padding: 2px 8px; border-radius: 10px;
  background: #fff4ce; color: #5c4400; font-size: 0.85em; }
#dose-check table, #sources ol { width: 100%; font-size: 0.9em; }
#dose-check td { vertical-align: top; padding: 4px; border-bottom: 1px solid var(--border-color-primary); }
#dose-check .sev-block { color: #a4000f; font-weight: 700; }
#dose-check .sev-warn { color: #8a5300; font-weight: 700; }
#dose-check .sev-info { color: #0b6a0b; font-weight: 700; }
#sources li { margin-bottom: 8px; }
#sources blockquote { margin: 4px 0; padding-left: 8px; border-left: 3px solid var(--border-color-primary); }
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


def _inert(text: str) -> str:
    """Text that cannot become markup: ``<`` and ``&`` escaped (markdown stays markdown)."""
    return text.replace("&", "&amp;").replace("<", "&lt;")


def chat_markdown(answer: Answer) -> str:
    """The answer as shown in the chat: the Dose check and related questions have their own
    panel and buttons; citation markers link to the Sources panel."""
    text = _inert(without_sections(answer.markdown, ("Dose check", "Related questions")))
    return _MARKER.sub(r'<a class="cite" href="#src-\1">[\1]</a>', text)


def _finding_row(f: Finding) -> str:
    where = ""
    if f.citation:
        where = f"<div><small>Reference: {html.escape(f.citation)}</small></div>"
    expected = f"<div>Expected: {html.escape(f.expected)}</div>" if f.expected else ""
    text = f.text if len(f.text) <= 200 else f.text[:200] + "…"
    return (
        f'<tr class="finding" data-rule="{html.escape(f.rule_id)}">'
        f'<td class="sev-{f.severity}">{_ICONS[f.severity]}</td>'
        f"<td><code>{html.escape(f.rule_id)}</code></td>"
        f"<td><div><q>{html.escape(text)}</q></div><div>{html.escape(f.message)}</div>"
        f"{expected}{where}</td></tr>"
    )


def dose_check_html(answer: Answer) -> str:
    v = answer.verdict
    blocks = sum(f.severity == "block" for f in v.findings)
    warns = sum(f.severity == "warn" for f in v.findings)
    summary = (
        f"{v.checked_doses} dose(s) checked · {blocks} withheld · {warns} warning(s)"
        if v.findings or v.checked_doses
        else "No doses or numbers to check in this answer."
    )
    rows = "".join(_finding_row(f) for f in v.findings)
    withheld = "".join(
        f'<li class="withheld">⛔ Withheld: <q>{html.escape(w.statement.text)}</q> — '
        f"{html.escape('; '.join(w.reasons))}"
        + (
            f"<div>The reference states: {html.escape(w.replacement)}</div>"
            if w.replacement
            else ""
        )
        + "</li>"
        for w in answer.withheld
    )
    return (
        '<div class="dose-check-panel"><h4>Dose check</h4>'
        f"<p>{html.escape(summary)}</p>"
        + (f"<table>{rows}</table>" if rows else "")
        + (f"<ul>{withheld}</ul>" if withheld else "")
        + "</div>"
    )


def sources_html(answer: Answer) -> str:
    if not answer.citations:
        return "<h4>Sources</h4><p>No sources cited.</p>"
    items: list[str] = []
    seen: set[int] = set()
    for c in answer.citations:
        if c.number in seen:
            continue
        seen.add(c.number)
        d = c.passage.doc
        meta = " · ".join(
            html.escape(str(x))
            for x in (d.organization, d.year, " > ".join(c.passage.chunk.section_path))
            if x
        )
        link = (
            f' <a href="{html.escape(d.url)}" target="_blank" rel="noopener noreferrer">source</a>'
            if d.url and d.url.startswith(("https://", "http://"))
            else ""
        )
        status = (
            f' <span class="bedside-badge">{html.escape(d.review_status)}</span>'
            if d.review_status
            else ""
        )
        items.append(
            f'<li id="src-{c.number}" value="{c.number}"><b>{html.escape(d.title)}</b>{status}'
            f"<div><small>{meta}</small>{link}</div>"
            f"<blockquote>{html.escape(c.quote)}</blockquote></li>"
        )
    return f'<h4>Sources</h4><ol class="sources">{"".join(items)}</ol>'


def _patient(weight: float | None, crcl: float | None, hepatic: bool, hit: bool) -> PatientInput:
    return PatientInput(
        weight_kg=weight or None,
        crcl_ml_min=crcl if crcl not in (None, "") else None,
        hepatic_impairment=True if hepatic else None,
        hit=True if hit else None,
    )


# ------------------------------------------------------------------ the Blocks


def build_chat(service: Service) -> Any:
    status = "pending clinical review"

    def ask(
        question: str,
        messages: list[dict[str, Any]],
        turns: list[dict[str, str]],
        audience: str,
        weight: float | None,
        crcl: float | None,
        hepatic: bool,
        hit: bool,
    ) -> tuple[Any, ...]:
        question = (question or "").strip()
        messages = list(messages or [])
        turns = list(turns or [])
        hidden = [gr.update(visible=False, value="") for _ in range(RELATED_SLOTS)]
        if not question:
            return (messages, turns, "", gr.update(), gr.update(), None, "", *hidden)
        messages.append({"role": "user", "content": _inert(question)})
        try:
            request = AskRequest(
                question=question,
                history=[TurnIn.model_validate(t) for t in turns],
                patient=_patient(weight, crcl, hepatic, hit),
                audience="patient" if audience == "patient" else "clinician",
            )
            answer = service.ask(request)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            messages.append({"role": "assistant", "content": f"⚠ {where}: {err['msg']}"})
            return (messages, turns, "", gr.update(), gr.update(), None, "", *hidden)
        except BedsideError as exc:
            messages.append({"role": "assistant", "content": f"⚠ {_inert(str(exc))}"})
            return (messages, turns, "", gr.update(), gr.update(), None, "", *hidden)
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
            dose_check_html(answer),
            sources_html(answer),
            answer.answer_id,
            "",
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
        return ([], [], "", "", "", None, "", *hidden)

    with gr.Blocks(title="Bedside", analytics_enabled=False) as blocks:
        gr.HTML(
            "<h2 style='margin:0'>Bedside</h2><p style='margin:0'>Answers from guidelines, "
            "FDA drug labels and research, every sentence cited and every dose checked "
            f"before it is shown. <span class='bedside-badge'>Sources: {status}</span></p>",
            elem_id="bedside-header",
        )
        turns = gr.State([])
        answer_id = gr.State(None)
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    elem_id="bedside-chat",
                    height=560,
                    label="Bedside",
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
                        up = gr.Button("👍 Useful", elem_id="bedside-up", size="sm")
                        down = gr.Button("👎 Not useful", elem_id="bedside-down", size="sm")
                    thanks = gr.Markdown(elem_id="bedside-feedback-status")
            with gr.Column(scale=2):
                audience = gr.Radio(
                    ["clinician", "patient"],
                    value="clinician",
                    label="Which best describes you?",
                    elem_id="bedside-audience",
                )
                with gr.Accordion("Patient facts (optional, used by the dose check)", open=False):
                    weight = gr.Number(label="Weight (kg)", minimum=0, elem_id="bedside-weight")
                    crcl = gr.Number(label="CrCl (mL/min)", minimum=0, elem_id="bedside-crcl")
                    hepatic = gr.Checkbox(label="Hepatic impairment", elem_id="bedside-hepatic")
                    hit = gr.Checkbox(label="HIT (current or past)", elem_id="bedside-hit")
                dose_panel = gr.HTML(elem_id="dose-check", js_on_load=None)
                sources = gr.HTML(elem_id="sources", js_on_load=None)
        gr.HTML(
            f"<div><b>Disclaimer.</b> {html.escape(DISCLAIMER)} Review status of the bundled "
            f"sources: {status}.</div>",
            elem_id="bedside-disclaimer",
            js_on_load=None,
        )

        last_question = gr.State("")
        inputs = [chatbot, turns, audience, weight, crcl, hepatic, hit]
        outputs = [chatbot, turns, question, dose_panel, sources, answer_id, thanks, *related]

        def remember(q: str) -> str:
            return q if service.assistant.settings.server.feedback_store_questions else ""

        for trigger in (ask_btn.click, question.submit):
            trigger(remember, [question], [last_question], queue=False).then(
                ask, [question, *inputs], outputs
            )
        for button in related:
            button.click(remember, [button], [last_question], queue=False).then(
                ask, [button, *inputs], outputs
            )
        up.click(
            lambda c, a, q: feedback("up", c, a, q),
            [comment, answer_id, last_question],
            [thanks, comment],
        )
        down.click(
            lambda c, a, q: feedback("down", c, a, q),
            [comment, answer_id, last_question],
            [thanks, comment],
        )
        clear_btn.click(clear, None, outputs, queue=False)
    return blocks
