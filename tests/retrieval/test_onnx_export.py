"""The ONNX model file names the embedder: another export is another embedder id, so an
index built with it is detected as stale (no model is run here)."""

from pathlib import Path

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
