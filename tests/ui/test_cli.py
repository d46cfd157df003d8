"""The `bedside` command in-process: index, ask, and every kind of bad input."""

import json
from pathlib import Path
from typing import Any

import pytest

from ui.cli import main

FAST = ["--preset", "fast"]  # hash embedder: fast and deterministic
QUESTION = "What is the bivalirudin dose for heparin-induced thrombocytopenia?"


@pytest.fixture()
def index_dir(tmp_path: Path, fixture_pack: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "idx"
    assert main([*FAST, "index", "--source", f"pack:{fixture_pack}", "--index-dir", str(out)]) == 0
    capsys.readouterr()
    return out


def test_index_then_ask_prints_ranked_passages(
    index_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main([*FAST, "ask", QUESTION, "--passages", "--index-dir", str(index_dir), "--k", "3"]) == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("1. Bivalirudin")
    assert "Bedside test fixtures · 2024" in out and "fixture-bivalirudin#" in out


def test_ask_json_is_stable(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                *FAST,
                "ask",
                QUESTION,
                "--passages",
                "--index-dir",
                str(index_dir),
                "--k",
                "2",
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"question", "mode", "k", "index", "settings_digest", "passages"}
    assert set(data["index"]) == {"path", "digest", "corpus_hash", "embedder"}
    assert len(data["passages"]) == 2
    assert set(data["passages"][0]) == {
        "rank",
        "chunk_id",
        "doc_id",
        "title",
        "organization",
        "year",
        "source_type",
        "section",
        "url",
        "review_status",
        "score",
        "dense_score",
        "dense_rank",
        "bm25_score",
        "bm25_rank",
        "start",
        "end",
        "text",
    }
    assert data["passages"][0]["doc_id"] == "fixture-bivalirudin"


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "question is empty"),
        ("   \n\t ", "question is empty"),
        ("?!… 🙂", "no letters or digits"),
        ("x" * 10 * 1024 * 1024, "limit is 4,000"),
        # b"heparin \xff dose" as Python hands a non-UTF-8 argument over (surrogateescape)
        (b"heparin \xff dose".decode("utf-8", "surrogateescape"), "not valid UTF-8"),
        ("heparin\x00 dose", "NUL character at character 8"),
    ],
    ids=["empty", "whitespace", "no-letters", "10MB", "not-utf8", "nul"],
)
def test_bad_questions_get_a_clear_error(
    index_dir: Path, capsys: pytest.CaptureFixture[str], question: str, message: str
) -> None:
    assert main([*FAST, "ask", question, "--index-dir", str(index_dir)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bedside: error: ") and message in err


def test_missing_index_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*FAST, "ask", QUESTION, "--index-dir", str(tmp_path / "none")]) == 1
    assert "no index at" in capsys.readouterr().err


def test_corrupted_manifest(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (index_dir / "manifest.json").write_text("{ not json")
    assert main([*FAST, "ask", QUESTION, "--index-dir", str(index_dir)]) == 1
    assert "manifest.json is corrupt" in capsys.readouterr().err


def test_binary_file_in_a_pack_is_skipped_and_the_rest_indexed(
    tmp_path: Path, fixture_pack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    for f in fixture_pack.glob("*.md"):
        (pack / f.name).write_bytes(f.read_bytes())
    (pack / "scan.md").write_bytes(bytes(range(256)) * 10)
    assert (
        main([*FAST, "index", "--source", f"pack:{pack}", "--index-dir", str(tmp_path / "idx")])
        == 0
    )
    captured = capsys.readouterr()
    assert "indexed 4 documents" in captured.out and "1 problem(s)" in captured.out
    assert "scan.md: binary file" in captured.err


def test_malformed_jsonl_line_is_skipped_and_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "docs.jsonl"
    good = {"id": "a", "title": "Heparin", "text": "Heparin 5000 units SC.", "source_type": "label"}
    f.write_text(
        json.dumps(good) + '\n{"id": "b", "text": \n' + json.dumps({**good, "id": "c"}) + "\n"
    )
    assert (
        main([*FAST, "index", "--source", f"jsonl:{f}", "--index-dir", str(tmp_path / "idx")]) == 0
    )
    captured = capsys.readouterr()
    assert "indexed 2 documents" in captured.out
    assert f"{f}:2: not valid JSON" in captured.err


def test_nothing_readable_exits_non_zero_and_keeps_the_index(
    index_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (index_dir / "manifest.json").read_bytes()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("garbage\n")
    assert main([*FAST, "index", "--source", f"jsonl:{bad}", "--index-dir", str(index_dir)]) == 1
    assert "nothing could be read" in capsys.readouterr().err
    assert (index_dir / "manifest.json").read_bytes() == before


def test_unknown_preset_and_source_kind_list_valid_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--preset", "turbo", "index"]) == 1
    assert "valid: default, fast" in capsys.readouterr().err
    assert main([*FAST, "index", "--source", "wiki:x"]) == 1
    assert "valid kinds: pack, jsonl" in capsys.readouterr().err


def test_ask_builds_the_default_index_on_first_use(
    tmp_path: Path,
    fixture_pack: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BEDSIDE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BEDSIDE_SOURCES", json.dumps([f"pack:{fixture_pack}"]))
    assert main([*FAST, "ask", QUESTION, "--passages", "--k", "1"]) == 0
    captured = capsys.readouterr()
    assert "built the index (no index yet)" in captured.err and captured.out.startswith(
        "1. Bivalirudin"
    )
    assert (tmp_path / "home" / "index" / "manifest.json").is_file()
    assert main([*FAST, "ask", QUESTION, "--passages", "--k", "1"]) == 0
    assert "built the index" not in capsys.readouterr().err  # reused, not rebuilt


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["serve", "--port", "80000"],
            "argument --port: expected a whole number from 1 to 65535, got 80000",
        ),
        (
            ["serve", "--port", "0"],
            "argument --port: expected a whole number from 1 to 65535, got 0",
        ),
        (
            ["serve", "--port", "eighty"],
            "argument --port: expected a whole number from 1 to 65535, got 'eighty'",
        ),
        (
            ["serve", "--workers", "17"],
            "argument --workers: expected a whole number from 1 to 16, got 17",
        ),
        (["ask", "q", "--k", "0"], "argument --k: expected a whole number from 1 to 200, got 0"),
        (["ask", "q", "--age", "-5"], "argument --age: expected a number from 0 to 130, got -5"),
        (
            ["ask", "q", "--weight", "0"],
            "argument --weight: expected a number above 0 and at most 500, got 0",
        ),
        (
            ["ask", "q", "--crcl", "nan"],
            "argument --crcl: expected a number from 0 to 300, got nan",
        ),
    ],
    ids=["port-high", "port-zero", "port-word", "workers", "k", "age", "weight", "crcl-nan"],
)
def test_a_numeric_option_out_of_range_is_one_usage_line_naming_it(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2  # a usage error, as argparse's own
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last == f"bedside {argv[0]}: error: {expected}"
    assert "validation error" not in err and "pydantic" not in err


def test_numeric_options_in_range_are_taken_as_numbers() -> None:
    from ui.cli import build_parser

    args = build_parser().parse_args(["serve", "--port", "65535", "--workers", "1"])
    assert (args.port, args.workers) == (65535, 1)
    args = build_parser().parse_args(["ask", "q", "--weight", "72.5", "--age", "0", "--k", "200"])
    assert (args.weight, args.age, args.k) == (72.5, 0.0, 200)


def test_preparing_the_embedding_model_shows_its_steps_on_stderr(
    tmp_path: Path,
    fixture_pack: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tiny_onnx: Any,
) -> None:
    from retrieval import onnx_export

    monkeypatch.setenv("BEDSIDE_HOME", str(tmp_path / "home"))  # a fresh install: no model yet
    monkeypatch.setattr(onnx_export, "_load_weights", lambda: "weights")
    monkeypatch.setattr(onnx_export, "_export_fp32", lambda module, target: tiny_onnx(target))
    idx = tmp_path / "idx"
    assert main(["index", "--source", f"pack:{fixture_pack}", "--index-dir", str(idx)]) == 0
    err = capsys.readouterr().err
    models = tmp_path / "home" / "models"
    assert f"bedside: preparing the embedding model (once) in {models}: 2 step(s)\n" in err
    for step in ("[1/2] loading the bundled weights", "[2/2] exporting them to ONNX (float32)"):
        assert f"bedside: {step} ...\n" in err and f"bedside: {step}: done in " in err
    assert "bedside: embedding model ready in " in err
    assert "+openvino-" in json.loads((idx / "manifest.json").read_text())["embedder_id"]


def test_an_index_keeps_its_protocol_folder_and_a_bad_library_keeps_the_index(
    tmp_path: Path,
    fixture_pack: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The default index (no --index-dir): built with a protocol folder, then listed and
    # rebuilt without naming any source, it keeps the folder it was built from.
    monkeypatch.setenv("BEDSIDE_HOME", str(tmp_path / "home"))
    folder = tmp_path / "protocols"
    folder.mkdir()
    (folder / "ward-argatroban.md").write_text(
        "# Ward argatroban\n\n- For HIT, start at 2 mcg/kg/min IV.\n", encoding="utf-8"
    )
    (folder / "library.yaml").write_text("defaults:\n  status: approved\n", encoding="utf-8")
    sources = ["--source", f"pack:{fixture_pack}", "--source", f"dir:{folder}"]
    assert main([*FAST, "index", *sources]) == 0
    capsys.readouterr()
    assert main([*FAST, "library", "--json"]) == 0
    captured = capsys.readouterr()
    listed = {d["doc_id"] for d in json.loads(captured.out)["documents"]}
    assert "ward-argatroban" in listed and "built the index" not in captured.err
    assert "using the sources the index" in captured.err
    # A library.yaml that cannot be read stops the build and keeps the index as it was.
    (folder / "library.yaml").write_text("defaults:\n  statuss: approved\n", encoding="utf-8")
    assert main([*FAST, "index"]) == 1
    err = capsys.readouterr().err
    assert "library.yaml" in err and "statuss" in err and "existing index was kept" in err
    # Answering from it would need the library's statuses: it is refused, by name...
    assert main([*FAST, "library", "--json"]) == 1
    assert "statuss" in capsys.readouterr().err
    # ...while the index as built is intact.
    index = tmp_path / "home" / "index"
    assert main([*FAST, "library", "--json", "--index-dir", str(index)]) == 0
    listed = {d["doc_id"] for d in json.loads(capsys.readouterr().out)["documents"]}
    assert "ward-argatroban" in listed
