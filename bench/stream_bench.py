"""Streaming benchmark: time to the first checked statement vs the whole answer, with a
slow OpenAI-compatible model (a local fake that writes one word every ``--word-ms``).

    python -m bench.stream_bench [--word-ms 60] [--runs 3]

Over the fixture pack with the hash embedder (the ``fast`` preset): what is measured is how
soon ``Assistant.ask_stream`` shows the bottom line while the model is still writing, and
what checking each statement as it completes costs against ``ask``. Timings are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUESTION = "What is the bivalirudin dose for heparin-induced thrombocytopenia?"
# Passages as the fixture pack ranks them for QUESTION: [1] bivalirudin in HIT, [3]
# argatroban in HIT, [5] bivalirudin in PCI; the second sentence is a wrong dose.
REPLY = (
    "Bivalirudin for HIT outside PCI is started at 0.15 mg/kg/h [1].\n"
    "For PCI, bivalirudin is given as an IV bolus of 7.5 mg/kg [5].\n"
    "Bivalirudin is adjusted to an aPTT of 1.5 to 2.5 times baseline [1].\n"
    "For HIT, argatroban is started at 2 mcg/kg/min without a bolus [3]."
)


def slow_server(word_s: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path.endswith("/tokenize"):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            words = REPLY.split(" ")
            try:
                for i, word in enumerate(words):
                    time.sleep(word_s)
                    delta = {"content": word if i == 0 else " " + word}
                    event = {"choices": [{"index": 0, "delta": delta}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
            except OSError:
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--word-ms", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from assistant.generators.openai_compat import OpenAICompatGenerator
    from assistant.pipeline import Assistant
    from assistant.settings import OpenAISettings, load_settings
    from assistant.types import AnswerEvent, StatementEvent

    server = slow_server(args.word_ms / 1000)
    home = Path(tempfile.mkdtemp(prefix="bedside-stream-bench-"))
    pack = REPO / "tests" / "fixtures" / "pack"
    settings = load_settings("fast", home=home, sources=[f"pack:{pack}"])
    base = Assistant.from_settings(settings)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    generator = OpenAICompatGenerator(OpenAISettings(base_url=url, model="fake", timeout_s=120))
    assistant = Assistant(settings, base.retriever, generator)

    first: list[float] = []
    streamed: list[float] = []
    whole: list[float] = []
    for _ in range(args.runs):
        t = time.perf_counter()
        assistant.ask(QUESTION)
        whole.append(time.perf_counter() - t)
        t = time.perf_counter()
        for event in assistant.ask_stream(QUESTION):
            if isinstance(event, StatementEvent) and len(first) < len(whole):
                first.append(time.perf_counter() - t)
            if isinstance(event, AnswerEvent):
                streamed.append(time.perf_counter() - t)
    server.shutdown()
    words = len(REPLY.split(" "))
    print(f"model: {words} words at {args.word_ms:g} ms each ({words * args.word_ms / 1000:.1f} s)")
    print(f"ask, whole answer:            median {statistics.median(whole):.2f} s")
    print(f"ask_stream, first statement:  median {statistics.median(first):.2f} s")
    print(f"ask_stream, whole answer:     median {statistics.median(streamed):.2f} s")


if __name__ == "__main__":
    main()
