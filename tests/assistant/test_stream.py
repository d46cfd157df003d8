"""Assistant.ask_stream: checked statements sent as the model writes them (fixture pack,
hash embedder, a scripted OpenAI-compatible server on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_openai_compat import FakeLLM, Reply, _start, _stop, generator_for

from assistant.pipeline import Assistant, answer_json, event_json
from assistant.settings import load_settings
from assistant.types import Answer, AnswerEvent, Event, NoticeEvent, StatementEvent

QUESTION = "What is the bivalirudin dose for heparin-induced thrombocytopenia?"
BOTTOM = "Bivalirudin for HIT outside PCI is started at 0.15 mg/kg/h."
WRONG_DOSE = "For PCI, bivalirudin is given as an IV bolus of 7.5 mg/kg."
UNSUPPORTED = "Bivalirudin is also approved for stroke prevention in atrial fibrillation."
TARGET = "Bivalirudin is adjusted to an aPTT of 1.5 to 2.5 times baseline."
ARGATROBAN = "For HIT, argatroban is started at 2 mcg/kg/min without a bolus."
# The passages, as the fixture pack ranks them for QUESTION: [1] the bivalirudin HIT dose,
# [3] the argatroban HIT dose, [5] the bivalirudin PCI dose.
REPLY = (
    f"{BOTTOM[:-1]} [1].\n"
    f"{WRONG_DOSE[:-1]} [5].\n"
    f"{UNSUPPORTED[:-1]} [2].\n"
    f"{TARGET[:-1]} [1].\n"
    f"{ARGATROBAN[:-1]} [3]."
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, fixture_pack: Path) -> Assistant:
    home = tmp_path_factory.mktemp("stream-home")
    settings = load_settings("fast", home=home, sources=[f"pack:{fixture_pack}"])
    return Assistant.from_settings(settings)


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    fake, thread = _start()
    try:
        yield fake
    finally:
        _stop(fake, thread)
    assert not fake.replies, f"scripted replies never requested: {fake.replies}"


def _over(base: Assistant, llm: FakeLLM) -> Assistant:
    return Assistant(base.settings, base.retriever, generator_for(llm))


def _shown(answer: Answer) -> list[str]:
    return [s.text for s in ([answer.bottom_line] if answer.bottom_line else [])] + [
        s.text for s in answer.statements
    ]


def _comparable(answer: Answer) -> dict[str, object]:
    out = answer_json(answer)
    for varies in ("answer_id", "timings_ms"):
        out.pop(varies)
    return out


def test_the_stream_sends_passed_statements_bottom_line_first_and_ends_with_asks_answer(
    base: Assistant, llm: FakeLLM
) -> None:
    llm.script(Reply(REPLY, events=True), Reply(REPLY, events=True))
    assistant = _over(base, llm)
    asked = assistant.ask(QUESTION)
    events = list(assistant.ask_stream(QUESTION))

    statements = [e for e in events if isinstance(e, StatementEvent)]
    assert isinstance(events[-1], AnswerEvent)
    streamed = events[-1].answer
    # The same verdict, shown and withheld statements as ask's answer for the same reply.
    assert _comparable(streamed) == _comparable(asked)
    assert streamed.verdict == asked.verdict
    withheld = {w.statement.text: w.why for w in streamed.withheld}
    assert withheld == {WRONG_DOSE: "dose_check", UNSUPPORTED: "unsupported"}
    # Sent: exactly what the answer shows, in its order, the bottom line first.
    assert [e.text for e in statements] == _shown(streamed) == [BOTTOM, TARGET, ARGATROBAN]
    assert statements[0].bottom_line and not any(e.bottom_line for e in statements[1:])
    assert not any(isinstance(e, NoticeEvent) for e in events)
    # Each carries its citations with their exact quotes.
    assert all(e.citations for e in statements)
    assert "0.15 mg/kg/h" in statements[0].citations[0].quote
    assert statements[0].section == "label"


def test_the_bottom_line_is_sent_while_the_model_is_still_writing(
    base: Assistant, llm: FakeLLM
) -> None:
    # The server stops after the second sentence's first word (role event + words) until
    # released: the bottom line must arrive before that.
    words_before_hold = len(f"{BOTTOM[:-1]} [1].\nFor".split(" ")) + 1
    llm.script(Reply(REPLY, events=True, hold_after=words_before_hold))
    stream = _over(base, llm).ask_stream(QUESTION)
    try:
        first = next(stream)
        assert llm.holding.is_set(), "the first statement came only after the reply ended"
    finally:
        llm.release.set()
    assert isinstance(first, StatementEvent) and first.bottom_line and first.text == BOTTOM
    rest = list(stream)
    assert isinstance(rest[-1], AnswerEvent) and _shown(rest[-1].answer)[0] == BOTTOM


def test_a_statement_that_fails_is_never_sent(base: Assistant, llm: FakeLLM) -> None:
    # Every sentence but the wrong dose and the unsupported claim is fine: the failing
    # ones appear nowhere in what is sent before the answer.
    llm.script(Reply(REPLY, events=True, chunk_delay_s=0.001))
    events = list(_over(base, llm).ask_stream(QUESTION))
    sent = " ".join(e.text for e in events if isinstance(e, StatementEvent))
    assert "7.5 mg/kg" not in sent and "stroke" not in sent
    assert BOTTOM in sent


def test_a_withheld_bottom_line_holds_the_rest_until_the_answer_chooses_its_lead(
    base: Assistant, llm: FakeLLM
) -> None:
    reply = f"{WRONG_DOSE[:-1]} [5].\n{TARGET[:-1]} [1].\n{BOTTOM[:-1]} [1]."
    llm.script(Reply(reply, events=True), Reply(reply, events=True))
    assistant = _over(base, llm)
    asked = assistant.ask(QUESTION)
    events = list(assistant.ask_stream(QUESTION))
    answer = events[-1].answer if isinstance(events[-1], AnswerEvent) else None
    assert answer is not None and _comparable(answer) == _comparable(asked)
    sent = [e for e in events if isinstance(e, StatementEvent)]
    assert [e.text for e in sent] == _shown(answer) and WRONG_DOSE not in _shown(answer)
    assert sent[0].bottom_line and sent[0].text == answer.bottom_line.text  # type: ignore[union-attr]


def test_the_extractive_generator_sends_its_finished_answer(base: Assistant) -> None:
    events: list[Event] = list(base.ask_stream(QUESTION))
    assert isinstance(events[-1], AnswerEvent)
    answer = events[-1].answer
    assert [e.text for e in events[:-1] if isinstance(e, StatementEvent)] == _shown(answer)
    assert _comparable(answer) == _comparable(base.ask(QUESTION))


def test_a_model_that_fails_mid_reply_ends_in_the_extractive_answer(
    base: Assistant, llm: FakeLLM
) -> None:
    llm.script(Reply(status=500, body=b'{"error": "model crashed"}'))
    events = list(_over(base, llm).ask_stream(QUESTION))
    final = events[-1]
    assert isinstance(final, AnswerEvent) and final.answer.generator == "extractive"
    assert any("composed by extraction" in n for n in final.answer.notes)


def test_events_as_json() -> None:
    assert event_json(NoticeEvent("changed")) == {"event": "notice", "text": "changed"}
