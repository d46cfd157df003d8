"""The ONNX model file names the embedder: another export is another embedder id, so an
index built with it is detected as stale (no model is run here)."""

import re
import threading
from pathlib import Path
from typing import Any

import pytest

from corpus.errors import ConfigError
from retrieval import embedders
from retrieval.embedders import MiniLMEmbedder, get_embedder
from retrieval.onnx_export import FP32_FILE, ensure_model


def test_embedder_id_carries_the_model_file_digest(tmp_path: Path) -> None:
    model = tmp_path / FP32_FILE
    model.write_bytes(b"one export")
    first = MiniLMEmbedder(tmp_path).id
    assert first == MiniLMEmbedder(tmp_path).id
    model.write_bytes(b"another export")
    second = MiniLMEmbedder(tmp_path).id
    assert first != second
    assert first.startswith("sentence-transformers/all-MiniLM-L6-v2+openvino-")


def test_an_existing_model_file_is_used_as_it_is(tmp_path: Path) -> None:
    (tmp_path / FP32_FILE).write_bytes(b"already there")
    assert ensure_model(tmp_path) == tmp_path / FP32_FILE
    assert (tmp_path / FP32_FILE).read_bytes() == b"already there"


def test_the_torch_runtime_is_a_setting() -> None:
    assert get_embedder("minilm-torch").id == "sentence-transformers/all-MiniLM-L6-v2"


def test_the_precision_setting_is_part_of_the_embedder_id(tmp_path: Path) -> None:
    (tmp_path / FP32_FILE).write_bytes(b"one export")
    f32 = get_embedder("minilm", tmp_path, precision="f32").id
    assert "-f32-" in f32
    auto = MiniLMEmbedder(tmp_path).id
    assert auto == f32.replace("-f32-", "-bf16-" if embedders._native_bf16() else "-f32-")
    if embedders._bf16_compiles():
        bf16 = MiniLMEmbedder(tmp_path, precision="bf16").id
        assert bf16 == f32.replace("-f32-", "-bf16-")


def test_bf16_where_openvino_cannot_run_it_is_refused_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / FP32_FILE).write_bytes(b"one export")
    monkeypatch.setattr(embedders, "_bf16_compiles", lambda: False)  # an AVX2-only CPU
    with pytest.raises(ConfigError, match="cannot run bfloat16 on this CPU.*PRECISION=f32"):
        _ = MiniLMEmbedder(tmp_path, precision="bf16").id
    assert "-f32-" in MiniLMEmbedder(tmp_path, precision="f32").id
    with pytest.raises(ConfigError, match="valid: auto, f32, bf16"):
        get_embedder("minilm", tmp_path, precision="fp8")


def test_preparing_the_model_reports_each_step_and_keeps_reporting_while_one_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_onnx: Any
) -> None:
    from retrieval import onnx_export

    lines: list[str] = []
    beat = threading.Event()

    def log(line: str) -> None:
        lines.append(line)
        if "still working" in line:
            beat.set()

    def export(module: object, target: Path) -> None:
        assert beat.wait(30), "no progress line while the export ran"
        tiny_onnx(target)

    monkeypatch.setattr(onnx_export, "_load_weights", lambda: "weights")
    monkeypatch.setattr(onnx_export, "_export_fp32", export)
    monkeypatch.setattr(onnx_export, "HEARTBEAT_S", 0.01)
    assert ensure_model(tmp_path / "models", log) == tmp_path / "models" / FP32_FILE
    assert lines[0] == f"preparing the embedding model (once) in {tmp_path / 'models'}: 2 step(s)"
    assert lines[1] == "[1/2] loading the bundled weights ..."
    assert re.fullmatch(r"\[1/2\] loading the bundled weights: done in \d+\.\d s", lines[2])
    assert lines[3] == "[2/2] exporting them to ONNX (float32) ..."
    assert re.fullmatch(
        r"\[2/2\] exporting them to ONNX \(float32\): still working, \d+ s", lines[4]
    )
    assert re.fullmatch(r"\[2/2\] exporting them to ONNX \(float32\): done in \d+\.\d s", lines[-2])
    assert re.fullmatch(
        rf"embedding model ready in \d+\.\d s: {re.escape(str(tmp_path))}.*", lines[-1]
    )
    lines.clear()
    assert ensure_model(tmp_path / "models", log) == tmp_path / "models" / FP32_FILE
    assert lines == []  # made once
