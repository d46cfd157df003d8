"""`bedside eval` end to end over the fixture pack with the hash embedder: a 3-question smoke
run with every peer, a malformed question file, interruption and --resume, compare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from corpus.errors import ConfigError
from evals.runner import RESULTS, RunConfig, read_results, run_eval
from ui.cli import main

QUESTIONS = [
    {
        "id": "fx:1",
        "question": "What is the bivalirudin dose for heparin-induced thrombocytopenia?",
        "gold_doc_ids": ["fixture-bivalirudin"],
        "must_have": ["bivalirudin 0.15 mg/kg/h in HIT"],
    },
    {
        "id": "fx:2",
        "question": "What is the target INR for warfarin?",
        "gold_doc_ids": ["fixture-warfarin"],
        "qrels": {"fixture-warfarin": 3, "fixture-argatroban": 1},
        "answer_label": "yes",
    },
    {
        "id": "fx:3",
        "question": "What is the dabigatran dose for a neonate on ECMO?",
        "meta": {"unanswerable": True},
    },
]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def questions(tmp_path: Path) -> Path:
    return _write(tmp_path / "fixture.jsonl", [json.dumps(q) for q in QUESTIONS])


def _cfg(questions: Path, out: Path, fixture_pack: Path, **kw: Any) -> RunConfig:
    return RunConfig(
        question_files=(questions,),
        out=out,
        preset="fast",
        sources=(f"pack:{fixture_pack}",),
        **kw,
    )


def _lines(out: Path) -> list[dict[str, Any]]:
    text = (out / RESULTS).read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_smoke_run_writes_results_summary_and_reports(
    questions: Path, tmp_path: Path, fixture_pack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["eval", "--questions", str(questions), "--source", f"pack:{fixture_pack}"]
    rc = main([*argv, "--config", "fast", "--out", str(out), "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| Bedside hybrid (pipeline) |" in printed and "| BM25 alone (bm25s) |" in printed

    records = _lines(out)
    assert [r["id"] for r in records] == ["fx:1", "fx:2", "fx:3"]
    first = records[0]
    for key in ("markdown", "citations", "retrieved", "verdict", "abstained", "latency_ms"):
        assert key in first, key
    assert first["citations"] and {"doc_id", "chunk_id", "quote"} <= set(first["citations"][0])
    assert first["retrieved"][0]["doc_id"] == "fixture-bivalirudin"
    assert {"retrieve", "total"} <= set(first["latency_ms"])
    assert "findings" in first["verdict"]
    assert set(first["peers"]) == {"bm25", "dense", "llamaindex"}
    assert records[2]["metrics"]["retrieval"] is None  # no gold: not judged

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    s = summary["sets"]["fixture"]
    assert s["questions"] == 3 and s["retrieval"]["bedside"]["questions"] == 2
    assert set(s["retrieval"]) == {"bedside", "bm25", "dense", "llamaindex"}
    assert s["answer"]["citation_exactness"] == 1.0
    assert s["answer"]["unanswerable"] == 1
    assert s["answer"]["label_questions"] == 1
    assert s["answer"]["liveqa_avg_score"] is not None  # fx:2 has graded qrels
    assert {"retrieve", "total"} <= set(s["latency_ms"])
    assert summary["settings_digest"] == first["settings_digest"]
    assert summary["index"]["digest"] == first["index_digest"]
    assert summary["question_files"][0]["sha256"]
    assert summary["machine"]["cpus"] >= 1 and summary["peak_rss_mb"] > 0
    assert summary["command"].startswith("bedside eval --questions")

    md = (out / "report.md").read_text(encoding="utf-8")
    assert "![" in md and "recall_at_k.png" in md and summary["settings_digest"] in md
    assert "LiveQA score" in md  # a column only where graded judgments exist
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 3
    for png in ("recall_at_k.png", "latency.png", "per_set.png"):
        assert (out / png).read_bytes().startswith(b"\x89PNG"), png


def test_bad_question_line_is_reported_with_its_line_and_the_rest_evaluated(
    tmp_path: Path, fixture_pack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(
        tmp_path / "broken.jsonl",
        [
            json.dumps(QUESTIONS[0]),
            '{"id": "fx:bad", "question": ',  # cut short
            json.dumps({"id": "fx:no-question"}),
            json.dumps(QUESTIONS[1]),
            json.dumps({"id": "fx:refused", "question": "???"}),  # valid line, refused question
        ],
    )
    out = tmp_path / "run"
    argv = ["eval", "--questions", str(path), "--source", f"pack:{fixture_pack}"]
    rc = main([*argv, "--config", "fast", "--out", str(out), "--peers", "none", "--no-progress"])
    assert rc == 0
    err = capsys.readouterr().err
    assert f"{path}:2: not valid JSON" in err
    assert f"{path}:3: field 'question'" in err
    records = _lines(out)
    assert [r["id"] for r in records] == ["fx:1", "fx:2", "fx:refused"]
    assert "no letters or digits" in records[2]["error"] and records[2]["abstained"]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["question_files"][0]["bad_lines"] == 2
    assert summary["sets"]["broken"]["errors"] == 1


class Interrupted(Exception):
    pass


def test_interrupted_run_resumes_to_one_line_per_question(
    questions: Path, tmp_path: Path, fixture_pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    seen: list[str] = []

    def stop_after_one(record: dict[str, Any]) -> None:
        seen.append(record["id"])
        raise Interrupted  # as Ctrl-C would, once the first answer is on disk

    with pytest.raises(Interrupted):
        run_eval(_cfg(questions, out, fixture_pack), progress=False, after_each=stop_after_one)
    first = (out / RESULTS).read_text(encoding="utf-8")
    assert [r["id"] for r in _lines(out)] == ["fx:1"]

    # the interruption also cut the next line short
    with (out / RESULTS).open("a", encoding="utf-8") as fh:
        fh.write('{"set": "fixture", "id": "fx:2", "markd')
    records, dropped = read_results(out / RESULTS)
    assert [r["id"] for r in records] == ["fx:1"] and "cut short" in dropped[0]

    # without --resume the finished answers are never thrown away silently
    with pytest.raises(ConfigError, match="--resume"):
        run_eval(_cfg(questions, out, fixture_pack), progress=False)

    notes: list[str] = []
    summary = run_eval(
        _cfg(questions, out, fixture_pack, resume=True), progress=False, log=notes.append
    )
    text = (out / RESULTS).read_text(encoding="utf-8")
    assert text.startswith(first)  # the finished answer was kept, not redone
    ids = [r["id"] for r in _lines(out)]
    assert sorted(ids) == ["fx:1", "fx:2", "fx:3"] and len(ids) == len(set(ids))
    assert any("cut short" in n for n in notes) and any("resuming: 1 of 3" in n for n in notes)
    assert summary["sets"]["fixture"]["questions"] == 3
    assert summary["invocations"] == 2

    # a resume with other settings would mix two configurations
    with pytest.raises(ConfigError, match="--k"):
        run_eval(_cfg(questions, out, fixture_pack, resume=True, k=5), progress=False)
    (out / "run.json").unlink()  # without it, the records' own digests are checked
    monkeypatch.setenv("BEDSIDE_ASSISTANT__K", "5")
    with pytest.raises(ConfigError, match="settings"):
        run_eval(_cfg(questions, out, fixture_pack, resume=True), progress=False)


def test_a_resume_after_the_answering_code_changed_is_refused(
    questions: Path, tmp_path: Path, fixture_pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import evals.runner as runner

    out = tmp_path / "run"
    summary = run_eval(_cfg(questions, out, fixture_pack, limit=1, peers=()), progress=False)
    assert summary["code_digest"] == runner.code_digest()
    monkeypatch.setattr(runner, "code_digest", lambda: "0123456789abcdef")
    with pytest.raises(ConfigError, match="code"):
        run_eval(_cfg(questions, out, fixture_pack, peers=(), resume=True), progress=False)


def test_limit_then_resume_completes_the_set(
    questions: Path, tmp_path: Path, fixture_pack: Path
) -> None:
    out = tmp_path / "run"
    run_eval(_cfg(questions, out, fixture_pack, limit=2, peers=()), progress=False)
    assert len(_lines(out)) == 2
    summary = run_eval(_cfg(questions, out, fixture_pack, peers=(), resume=True), progress=False)
    assert [r["id"] for r in _lines(out)] == ["fx:1", "fx:2", "fx:3"]
    assert summary["sets"]["fixture"]["questions"] == 3


def test_compare_prints_two_runs_side_by_side(
    questions: Path, tmp_path: Path, fixture_pack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    run_eval(_cfg(questions, a, fixture_pack, peers=("bm25",)), progress=False)
    run_eval(_cfg(questions, b, fixture_pack, peers=("bm25",), limit=1), progress=False)
    assert main(["eval", "compare", str(a), str(b)]) == 0
    table = capsys.readouterr().out
    assert "delta (B-A)" in table
    row = next(line for line in table.splitlines() if "bedside recall@10" in line)
    assert row.split()[0] == "fixture"
    assert main(["eval", "compare", str(a), str(tmp_path / "missing")]) == 1
    assert "no summary.json" in capsys.readouterr().err


def test_eval_without_questions_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["eval"])
    assert exc.value.code == 2
    assert "--questions" in capsys.readouterr().err


def test_unknown_peer_lists_the_valid_ones(
    questions: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["eval", "--questions", str(questions), "--peers", "bm25,colbert"])
    assert rc == 1
    assert "bm25, dense, llamaindex" in capsys.readouterr().err


def test_explicit_index_is_evaluated_as_built(
    questions: Path, tmp_path: Path, fixture_pack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from retrieval.store import read_manifest

    index_dir = tmp_path / "index"
    built = ["--preset", "fast", "index", "--source", f"pack:{fixture_pack}"]
    assert main([*built, "--index-dir", str(index_dir)]) == 0
    out = tmp_path / "run"
    argv = ["--preset", "fast", "eval", "--questions", str(questions), "--index-dir"]
    rc = main([*argv, str(index_dir), "--out", str(out), "--peers", "llamaindex", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["index"]["digest"] == read_manifest(index_dir).digest()
    assert summary["config"] == "fast"  # the global --preset stands for --config
    assert summary["peers"] == ["llamaindex"]  # its documents come from the index's sources
    assert summary["sets"]["fixture"]["retrieval"]["llamaindex"]["questions"] == 2


def test_the_recorded_ranking_is_the_retrieve_stage_not_a_later_look_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from evals.runner import RecordingRetriever
    from retrieval.hybrid import HybridRetriever

    monkeypatch.setattr(
        HybridRetriever, "search", lambda self, query, k=None, mode="hybrid": [query]
    )
    recorder = object.__new__(RecordingRetriever)
    recorder.last = None
    recorder.search("the question", k=50)
    recorder.search("apixaban dose", k=15)  # the coverage check's look-up
    assert recorder.last == ["the question"]
