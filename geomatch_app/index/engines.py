"""Descriptor engines: one PlaceModel, run by eager torch or by ONNX Runtime.

An engine maps a batch of preprocessed images (B, 3, S, S) to L2-normalised descriptors
(B, D) float32. Both engines compute the same function of the same weights, so the model
fingerprint (and with it every index) stays the same whichever engine embedded it; the ONNX
export is checked against torch on a probe batch before it is used.

Measured on the 2-core CPU (benchmarks/bench_index.py, docs/performance.md): ONNX Runtime runs
the day-one model ~3× faster than eager torch at equal threads (~2.5× with file decoding), so
``auto`` picks it on the CPU when ``onnxruntime`` is installed. Dynamic int8 quantisation was
measured and rejected (slower, and descriptors drift). On CUDA the torch engine runs bf16
autocast and channels_last.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import warnings
import weakref
from pathlib import Path

import numpy as np
import torch

from geomatch_app.core import files

log = logging.getLogger(__name__)

ENGINES = ("auto", "torch", "onnx")
ENGINE_ENV = "GEOMATCH_ENGINE"
# Bump when the export (opset, input names, options) changes: old cached files are not reused.
EXPORT_VERSION = 1
OPSET = 17
KEEP_EXPORTS = 6  # newest cached exports kept; older ones are deleted (each is ~model size)
MIN_COSINE = 0.999  # an export that disagrees more than this with torch is not used
EXPORT_PROCESS_ENV = "GEOMATCH_EXPORT_PROCESS"  # "1": export in a child process (the window)
EXPORT_TIMEOUT_S = 600


def default_engine() -> str:
    """The engine asked for by ``GEOMATCH_ENGINE`` (auto|torch|onnx), else ``auto``."""
    name = os.environ.get(ENGINE_ENV, "auto").strip().lower() or "auto"
    if name not in ENGINES:
        log.warning("%s=%r is not one of %s; using auto", ENGINE_ENV, name, ", ".join(ENGINES))
        return "auto"
    return name


def set_default_engine(name: str | None) -> None:
    """Make ``name`` the engine of every later embedding in this process (and the DataLoader
    workers it starts) that does not name one: what ``--engine`` does."""
    if name is None:
        return
    name = name.strip().lower()
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    os.environ[ENGINE_ENV] = name


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def cache_dir() -> Path:
    """User cache for derived files (ONNX exports): GEOMATCH_CACHE, else the platform's cache
    folder (:func:`core.paths.user_cache_dir`; GEOMATCH_HOME/cache in tests)."""
    from geomatch_app.core.paths import user_cache_dir

    env = os.environ.get("GEOMATCH_CACHE")
    return Path(env) if env else user_cache_dir()


class TorchEngine:
    """Eager torch. On the CPU a copy of the model with BatchNorm folded into the convolutions
    (torch.fx) in channels_last layout does the work; the caller's model is left untouched (it
    still trains and draws heatmaps). Models fx cannot trace run as they are."""

    name = "torch"

    def __init__(self, model, device: torch.device):
        self.device = device
        self.dim = model.dim
        model = model.to(device).eval()
        fused = _fold_batchnorm(model) if device.type == "cpu" else model
        self._channels_last = fused is not model or device.type == "cuda"
        if self._channels_last:
            fused = fused.to(memory_format=torch.channels_last)
        # the engine cache is keyed weakly by the model: never hold the model itself strongly
        self._fused = fused if fused is not model else None
        self._model = weakref.ref(model)

    @property
    def module(self):
        run = self._fused if self._fused is not None else self._model()
        if run is None:
            raise RuntimeError("the model of this engine no longer exists")
        return run

    def __call__(self, x: torch.Tensor) -> np.ndarray:
        run = self.module
        x = x.to(self.device, non_blocking=True)
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        run.eval()  # unfused: the caller may have put its model back in training mode
        with torch.inference_mode():
            if self.device.type == "cuda":
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    d = run(x)
            else:
                d = run(x)
        return d.float().cpu().numpy()


def _fold_batchnorm(model):
    """Conv+BN folded (torch.fx ``fuse``) on a copy; the model itself when fx cannot trace it."""
    try:
        from torch.fx.experimental.optimization import fuse

        return fuse(model, inplace=False)
    except Exception as exc:  # noqa: BLE001 - data-dependent control flow etc.: run unfused
        log.info("%s: BatchNorm folding skipped (%s)", getattr(model, "name", "model"), exc)
        return model


class OnnxEngine:
    """ONNX Runtime on the CPU over the model's cached export (see :func:`export_onnx`)."""

    name = "onnx"

    def __init__(self, model, threads: int | None = None):
        import onnxruntime as ort

        self.dim = model.dim
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        self.path = export_onnx(model)
        try:
            self.session = ort.InferenceSession(str(self.path), opts,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - a damaged cache file: export it again
            log.warning("%s: cached ONNX export unreadable (%s); exporting again", self.path, exc)
            self.path.unlink(missing_ok=True)
            self.path = export_onnx(model)
            self.session = ort.InferenceSession(str(self.path), opts,
                                                providers=["CPUExecutionProvider"])

    def __call__(self, x: torch.Tensor | np.ndarray) -> np.ndarray:
        arr = x.numpy() if isinstance(x, torch.Tensor) else x
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        return self.session.run(None, {"image": arr})[0]


def export_key(model) -> str:
    """Cache key of a model's export: its fingerprint (name, kwargs, weight hash,
    preprocessing) plus the exporter's version, so new weights or a new torch re-export."""
    fp = model.fingerprint()
    blob = json.dumps({"fp": fp, "torch": torch.__version__, "opset": OPSET,
                       "v": EXPORT_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def export_onnx(model) -> Path:
    """The model exported to ONNX, from the user cache when it is there (written atomically:
    a temporary file renamed into place). Raises RuntimeError when the export fails or its
    output disagrees with torch."""
    folder = cache_dir() / "onnx"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in (model.name or "model"))
    path = folder / f"{safe[:60]}-{export_key(model)}.onnx"
    if path.is_file():
        os.utime(path)  # newest used: kept by the eviction below
        return path
    folder.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    try:
        with files.replacing(path) as tmp:  # a failed or killed export leaves no file
            if os.environ.get(EXPORT_PROCESS_ENV) == "1":
                _export_in_child(model, tmp)
            else:
                _export_here(model, tmp, MIN_COSINE)
    except Exception as exc:
        raise RuntimeError(f"ONNX export of {model.name!r} failed: {exc}") from exc
    log.info("exported %s to %s", model.name, path)
    _evict(folder, keep=path)
    return path


def _export_here(model, out: Path, min_cosine: float) -> None:
    """Export ``model`` to ``out`` and check it against torch on the probe batch."""
    probe = _probe_batch(model.preprocess.size)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation, constant folding notes
        torch.onnx.export(model, (probe,), str(out), input_names=["image"],
                          output_names=["descriptor"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={"image": {0: "batch"}, "descriptor": {0: "batch"}})
    _check_export(model, out, probe, min_cosine)


def _export_in_child(model, out: Path) -> None:
    """The export in a child process (the window sets GEOMATCH_EXPORT_PROCESS=1). In-process
    it held the GIL for 0.4–1.2 s at a stretch — the exporter imports ``onnx``, whose
    ``ml_dtypes`` extension initialises under the GIL — which froze the window's first run
    (docs/performance.md). The model travels pickled (torch.save: its current
    weights, fine-tuned ones included); the child writes ``out`` or an error message."""
    import tempfile

    from geomatch_app.core.child import run_spawned

    with tempfile.TemporaryDirectory(dir=out.parent, prefix="export-") as work:
        pickled, error = Path(work) / "model.pt", Path(work) / "error.txt"
        try:
            torch.save(model, pickled)
        except Exception as exc:  # noqa: BLE001 - e.g. a hook that cannot be pickled
            log.warning("%s: exporting in this process (the model cannot be pickled: %s)",
                        getattr(model, "name", "model"), exc)
            _export_here(model, out, MIN_COSINE)
            return
        code = run_spawned(_child_export, (str(pickled), str(out), str(error), MIN_COSINE,
                                           torch.get_num_threads()),
                           EXPORT_TIMEOUT_S, "onnx-export")
        if code is None:
            raise RuntimeError(f"the export took longer than {EXPORT_TIMEOUT_S} s")
        if code != 0:
            why = error.read_text() if error.is_file() else f"exit code {code}"
            raise RuntimeError(why)


def _child_export(pickled: str, out: str, error: str, min_cosine: float, threads: int) -> None:
    try:
        torch.set_num_threads(threads)
        model = torch.load(pickled, weights_only=False).eval()
        _export_here(model, Path(out), min_cosine)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        Path(error).write_text(str(exc) or type(exc).__name__)
        raise SystemExit(1) from None


def _probe_batch(size: int) -> torch.Tensor:
    """Two fixed pseudo-images (smooth gradients + noise) in the normalised input range."""
    g = torch.Generator().manual_seed(0)
    ramp = torch.linspace(-1, 1, size)
    base = ramp[None, None, :] * ramp[None, :, None]
    x = base.expand(2, 3, size, size) + 0.5 * torch.randn(2, 3, size, size, generator=g)
    return x.clamp(-2.2, 2.7).contiguous()


def _check_export(model, path: Path, probe: torch.Tensor, min_cosine: float) -> None:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": probe.numpy()})[0]
    with torch.inference_mode():
        ref = model(probe).float().numpy()
    cos = float(np.min(np.sum(got * ref, axis=1)
                       / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1) + 1e-12)))
    if not cos >= min_cosine:
        raise RuntimeError(f"ONNX output disagrees with torch (cosine {cos:.5f} < {min_cosine})")


def _evict(folder: Path, keep: Path) -> None:
    exports = sorted(folder.glob("*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in exports[KEEP_EXPORTS:]:
        if old != keep:
            old.unlink(missing_ok=True)


# Engines built for a model, reused while its weights are unchanged: training writes them in
# place, and every in-place write bumps a tensor's version counter (writes through ``.data``
# do not; nothing here uses them). {model: (tensors, versions, {key: engine})}
_ENGINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _versions(tensors: list) -> list[int]:
    """~0.1 ms for the day-one model's 1,900 tensors (hashing the weights takes ~40 ms)."""
    return [t._version for t in tensors]


def get_engine(model, engine: str | None = None, device: str | torch.device = "cpu"):
    """The engine for ``model`` on ``device``: ``torch``, ``onnx`` or ``auto`` (ONNX Runtime on
    the CPU when installed and the model exports, else torch). ``None`` = GEOMATCH_ENGINE or
    auto. Asking for ``onnx`` where it cannot run falls back to torch with a warning."""
    name = (engine or default_engine()).lower()
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    dev = torch.device(device)
    if name in ("auto", "onnx") and dev.type != "cpu":
        if name == "onnx":
            log.warning("the ONNX engine runs on the CPU only; using torch on %s", dev)
        name = "torch"
    if name in ("auto", "onnx") and not onnx_available():
        if name == "onnx":
            log.warning("onnxruntime is not installed (pip install onnxruntime); using torch")
        name = "torch"
    cached = _ENGINES.get(model)
    if cached is None or _versions(cached[0]) != cached[1]:
        tensors = list(itertools.chain(model.parameters(), model.buffers()))
        cached = (tensors, _versions(tensors), {})
        _ENGINES[model] = cached
    key = (name, str(dev), torch.get_num_threads())
    if key in cached[2]:
        return cached[2][key]
    eng = None
    if name in ("auto", "onnx"):
        try:
            eng = OnnxEngine(model)
        except Exception as exc:  # noqa: BLE001 - any export/runtime failure: torch still works
            log.warning("%s: ONNX engine unavailable, using torch (%s)",
                        getattr(model, "name", "model"), exc)
    if eng is None:
        eng = TorchEngine(model, dev)
    cached[2][key] = eng
    return eng

