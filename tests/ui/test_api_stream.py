"""POST /api/ask?stream=true: server-sent events of checked statements, then the answer;
access, rate limits and refusals as without streaming (in process, fixture pack). And the
chat: it streams them when one server process answers (gradio's queue carries a
generator's updates to the page); with several it answers whole."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from apps import client, service_over

from assistant.generators.openai_compat import draft_of, parse_completion, split_statements
from assistant.pipeline import Assistant
from assistant.settings import load_settings
from assistant.types import Draft, Turn
from retrieval.types import Passage
from ui.app import create_app
from ui.chat import build_chat, chat_markdown
from ui.feedback import FeedbackStore
from ui.service import AskRequest, Service

QUESTION = "What is the bivalirudin dose for heparin-induced thrombocytopenia?"
BOTTOM = "Bivalirudin for HIT outside PCI is started at 0.15 mg/kg/h."
WRONG = "For PCI, bivalirudin is given as an IV bolus of 7.5 mg/kg."
REPLY = (
    f"{BOTTOM[:-1]} [1].\n{WRONG[:-1]} [5].\nFor HIT, argatroban is started at 2 mcg/kg/min [3]."
)
TOKEN = "s3cret-token-long-enough-for-the-length-rule"


class StreamingGenerator:
    """Writes REPLY over the passages it is given, a statement at a time, as the OpenAI
    generator reads a stream."""

    name = "streaming"
    quotes = False

    def generate(
        self,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[Turn] = (),
        frame: Any = None,
    ) -> Draft:
        return parse_completion(REPLY, passages, self.name)

    def generate_stream(
        self,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[Turn] = (),
        frame: Any = None,
    ) -> Iterator[Draft]:
        said = split_statements(REPLY)
        for n in range(1, len(said)):
            yield draft_of(said[:n], passages, self.name)
        yield self.generate(question, passages, history, frame)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, fixture_pack: Path) -> Service:
    home = tmp_path_factory.mktemp("stream-api-home")
    settings = load_settings("fast", home=home, sources=[f"pack:{fixture_pack}"])
    built = Assistant.from_settings(settings)
    assistant = Assistant(settings, built.retriever, StreamingGenerator())
    return Service(assistant, FeedbackStore(home / "feedback.sqlite3"))


def _events(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.split("\n") if line]
    assert all(line.startswith("data: ") for line in lines), lines
    return [json.loads(line[len("data: ") :]) for line in lines]


def _without_run(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("answer_id", "timings_ms")}


def test_the_stream_sends_checked_statements_then_the_answer(base: Service, tmp_path: Path) -> None:
    service = service_over(base, tmp_path, rate_limit=0)
    with client(create_app(service, token="")) as c:
        plain = c.post("/api/ask", json={"question": QUESTION})
        streamed = c.post("/api/ask?stream=true", json={"question": QUESTION})
    assert plain.status_code == streamed.status_code == 200, streamed.text
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = _events(streamed.text)
    assert [e["event"] for e in events] == ["statement", "statement", "answer"]
    assert events[0]["bottom_line"] and events[0]["text"] == BOTTOM
    assert events[0]["citations"][0]["quote"]
    assert WRONG not in [e.get("text") for e in events]
    answer = events[-1]["answer"]
    assert _without_run(answer) == _without_run(plain.json())
    assert [w["text"] for w in answer["withheld"]] == [WRONG]
    # The streamed answer is audited as the plain one is.
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert [json.loads(line)["answer_id"] for line in lines][-1] == answer["answer_id"]


def test_the_stream_needs_the_same_credentials(base: Service, tmp_path: Path) -> None:
    service = service_over(base, tmp_path, access="token", rate_limit=0)
    with client(create_app(service, token=TOKEN)) as c:
        refused = c.post("/api/ask?stream=true", json={"question": QUESTION})
        allowed = c.post(
            "/api/ask?stream=true",
            json={"question": QUESTION},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert refused.status_code == 401 and "data:" not in refused.text
    assert allowed.status_code == 200 and _events(allowed.text)[-1]["event"] == "answer"


def test_the_stream_counts_against_the_rate_limit(base: Service, tmp_path: Path) -> None:
    service = service_over(base, tmp_path, rate_limit=2)
    with client(create_app(service, token="")) as c:
        codes = [
            c.post("/api/ask", json={"question": QUESTION}).status_code,
            c.post("/api/ask?stream=true", json={"question": QUESTION}).status_code,
            c.post("/api/ask?stream=true", json={"question": QUESTION}).status_code,
        ]
    assert codes == [200, 200, 429]


def test_a_refused_question_is_its_status_code_not_a_stream(base: Service, tmp_path: Path) -> None:
    service = service_over(base, tmp_path, rate_limit=0)
    with client(create_app(service, token="")) as c:
        bad = c.post("/api/ask?stream=true", json={"question": "what\x00 dose"})
        plain = c.post("/api/ask", json={"question": "what\x00 dose"})
    assert bad.status_code == plain.status_code == 422, bad.text
    assert bad.json() == plain.json()


# ------------------------------------------------------------------ the chat

FIELDS = ("clinician", None, None, False, False, None, "unknown", None)


def _ask_fn(service: Service) -> Any:
    blocks = build_chat(service)
    fns = [fn for fn in blocks.fns.values() if len(fn.inputs) == 11]  # question + inputs
    assert fns
    return fns[0]


def test_one_process_streams_the_bottom_line_first_then_the_answer(
    base: Service, tmp_path: Path
) -> None:
    service = service_over(base, tmp_path, workers=1, rate_limit=0)
    fn = _ask_fn(service)
    assert fn.queue and fn.fn.__name__ == "ask_streaming"
    http = SimpleNamespace(headers={})
    updates = list(fn.fn(QUESTION, [], [], *FIELDS, http))
    first = updates[0][0][-1]["content"]
    assert BOTTOM.split(" is ")[0] in first and "Checking and writing" in first
    assert all(WRONG not in u[0][-1]["content"] for u in updates[:-1])
    final = updates[-1]
    answer = service.ask(AskRequest(question=QUESTION))
    # The full rendered answer closes the stream, as the whole answer would show it.
    assert final[0][-1]["content"] == chat_markdown(answer).replace(answer.answer_id, final[5])
    assert final[0][0] == {"role": "user", "content": QUESTION}


def test_several_processes_answer_whole_outside_the_queue(base: Service, tmp_path: Path) -> None:
    fn = _ask_fn(service_over(base, tmp_path, workers=2, rate_limit=0))
    assert not fn.queue and fn.fn.__name__ == "ask"
