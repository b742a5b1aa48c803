"""One wrapper over the TFLite interpreters a device may have.

``ai_edge_litert`` (LiteRT, the maintained successor of tflite-runtime; numpy 2, Python
3.10-3.13; extra ``[infer]``) is preferred, then ``tflite_runtime`` (2.14 needs numpy < 2
and Python <= 3.11), then ``tensorflow.lite``.  :func:`available_runtimes` lists what is
installed; :meth:`Model.load` takes ``runtime="auto"`` or one of :data:`RUNTIMES`.

A model is read into memory once, checked as a TFLite flatbuffer by edgekit's own
bounds-checked reader (so a truncated or foreign file is a :class:`~edgekit.errors.ModelError`
before any C++ sees it), handed to an optional ``verify`` callable (a signature check: it
receives the exact bytes the runtime will load, so nothing can change in between), and only
then given to the interpreter, from memory.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import InputError, InputTypeError, ModelError, RuntimeUnavailableError
from edgekit.infer._flatbuffer import ModelSummary, read_model

__all__ = ["RUNTIMES", "Model", "TensorInfo", "available_runtimes"]

RUNTIMES: tuple[str, ...] = ("ai_edge_litert", "tflite_runtime", "tensorflow")
_MODULES = {
    "ai_edge_litert": "ai_edge_litert.interpreter",
    "tflite_runtime": "tflite_runtime.interpreter",
    "tensorflow": "tensorflow",  # tf.lite is an attribute of the package, not a module
}
MAX_MODEL_BYTES = 1 << 31

Verifier = Callable[[bytes, str | None], object]


def _import(runtime: str) -> Any:
    """The module providing ``Interpreter`` for ``runtime``, or None if not installed."""
    try:
        mod = importlib.import_module(_MODULES[runtime])
        if runtime == "tensorflow":
            mod = mod.lite
    except (ImportError, AttributeError):
        return None
    return mod if hasattr(mod, "Interpreter") else None


def available_runtimes() -> tuple[str, ...]:
    """The installed runtimes, in the order ``runtime="auto"`` tries them."""
    return tuple(r for r in RUNTIMES if _import(r) is not None)


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """An input or output tensor: ``scale``/``zero_point`` are its quantisation (scale 0.0
    for a float tensor); ``signature_name`` its name in the serving signature, if any."""

    name: str
    index: int
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int
    signature_name: str | None = None

    @property
    def quantized(self) -> bool:
        return self.scale > 0 and self.dtype != np.float32


def _infos(details: list[dict], sig_names: dict[int, str]) -> tuple[TensorInfo, ...]:
    out = []
    for d in details:
        scale, zp = d.get("quantization", (0.0, 0))
        out.append(TensorInfo(str(d["name"]), int(d["index"]), tuple(int(s) for s in d["shape"]),
                              np.dtype(d["dtype"]), float(scale), int(zp),
                              sig_names.get(int(d["index"]))))
    return tuple(out)


class Model:
    """A loaded TFLite model and its interpreter (not thread-safe: one per thread).

    Use :meth:`load`; then :meth:`set_input`, :meth:`invoke`, :meth:`output`.
    """

    def __init__(self, interpreter: Any, runtime: str, summary: ModelSummary, nbytes: int,
                 path: str | None) -> None:
        self._it = interpreter
        self.runtime = runtime
        self.summary = summary
        self.nbytes = nbytes
        self.path = path
        sig_in: dict[int, str] = {}
        sig_out: dict[int, str] = {}
        try:
            sigs = interpreter.get_signature_list() or {}
        except (AttributeError, RuntimeError, ValueError):
            sigs = {}
        if len(sigs) == 1:
            key = next(iter(sigs))
            try:
                runner = interpreter.get_signature_runner(key)
                sig_in = {int(d["index"]): n for n, d in runner.get_input_details().items()}
                sig_out = {int(d["index"]): n for n, d in runner.get_output_details().items()}
            except (AttributeError, RuntimeError, ValueError, KeyError):
                pass
        self.inputs = _infos(interpreter.get_input_details(), sig_in)
        self.outputs = _infos(interpreter.get_output_details(), sig_out)

    @classmethod
    def load(cls, source: str | os.PathLike[str] | bytes, *, runtime: str = "auto",
             num_threads: int = 1, verify: Verifier | None = None,
             preserve_all_tensors: bool = False, _path: str | None = None) -> Model:
        """Load a model from a path or from bytes.

        Args:
            source: a ``.tflite`` path, or the model's bytes.
            runtime: ``"auto"`` or one of :data:`RUNTIMES`.
            num_threads: interpreter threads (default 1: a gateway runs other work too).
            verify: called as ``verify(model_bytes, path)`` before the runtime sees the
                model; it must raise (e.g. :class:`~edgekit.errors.SignatureError`) to refuse
                it.  Its exception propagates unchanged.
            preserve_all_tensors: keep intermediate tensors readable with :meth:`tensor`
                (debugging and tests; costs memory).

        Raises:
            ModelError: unreadable, truncated or not a TFLite flatbuffer, or refused by the
                runtime.
            RuntimeUnavailableError: no (or not the requested) runtime is installed.
        """
        path: str | None = _path
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        elif isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            try:
                size = os.path.getsize(path)
                if size > MAX_MODEL_BYTES:
                    raise ModelError(f"model file is {size} bytes, over the 2 GiB limit",
                                     path=path)
                data = Path(path).read_bytes()
            except OSError as err:
                raise ModelError(f"cannot read model file: {err.strerror or err}",
                                 path=path) from err
        else:
            raise InputTypeError(f"source must be a path or bytes, got {type(source).__name__}",
                                 name="source", got=type(source).__name__)
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or not (
                1 <= num_threads <= 64):
            raise InputError(f"num_threads must be an int in 1..64, got {num_threads!r}",
                             name="num_threads", got=num_threads)
        summary = read_model(data, path)
        if verify is not None:
            verify(data, path)
        name, module = _pick(runtime)
        try:
            kwargs: dict[str, Any] = {"model_content": data, "num_threads": num_threads}
            if preserve_all_tensors:
                kwargs["experimental_preserve_all_tensors"] = True
            with warnings.catch_warnings():
                # the caller asked for preserve_all_tensors: LiteRT's notice adds nothing
                warnings.filterwarnings("ignore", message=".*preserve_all_tensors.*")
                it = module.Interpreter(**kwargs)
            it.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            raise ModelError(f"{name} refused the model: {err}", path=path) from err
        return cls(it, name, summary, len(data), path)

    # -- running -------------------------------------------------------------------------

    def input_buffer(self, i: int = 0) -> np.ndarray:
        """A fresh array with the shape and dtype of input ``i``, to fill and pass to
        :meth:`set_input`."""
        info = self.inputs[i]
        return np.zeros(info.shape, dtype=info.dtype)

    def set_input(self, array: np.ndarray, i: int = 0) -> None:
        info = self.inputs[i]
        if not isinstance(array, np.ndarray):
            raise InputTypeError("input must be a numpy.ndarray", name="array")
        if array.dtype != info.dtype or tuple(array.shape) != info.shape:
            raise InputError(f"input {info.name} needs {info.shape} {info.dtype}, got "
                             f"{array.shape} {array.dtype}", name="array",
                             expected=(info.shape, str(info.dtype)),
                             got=(array.shape, str(array.dtype)))
        self._it.set_tensor(info.index, array)

    def invoke(self) -> None:
        try:
            self._it.invoke()
        except RuntimeError as err:
            raise ModelError(f"{self.runtime} failed to run the model: {err}",
                             path=self.path) from err

    def tensor(self, index: int) -> np.ndarray:
        """A copy of tensor ``index`` (an output, or any tensor the runtime keeps)."""
        return self._it.get_tensor(index)

    def output(self, i: int, dequantize: bool = True) -> np.ndarray:
        """Output ``i`` (position in :attr:`outputs`), as float32 when ``dequantize`` and the
        tensor is quantised."""
        info = self.outputs[i]
        value = self._it.get_tensor(info.index)
        if dequantize and info.quantized:
            value = ((value.astype(np.float32) - np.float32(info.zero_point))
                     * np.float32(info.scale))
        return value

    def ops(self) -> tuple[str, ...]:
        """Operator names of the main graph, from the flatbuffer."""
        return tuple(op.name for op in self.summary.ops)

    def close(self) -> None:
        self._it = None

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pick(runtime: str) -> tuple[str, Any]:
    if runtime == "auto":
        for name in RUNTIMES:
            mod = _import(name)
            if mod is not None:
                return name, mod
        raise RuntimeUnavailableError(
            "no TFLite runtime is installed: pip install 'edgekit[infer]' (ai-edge-litert), "
            "or tflite-runtime, or tensorflow", feature="infer", extra="infer")
    if runtime not in RUNTIMES:
        raise InputError(f"runtime must be 'auto' or one of {RUNTIMES}, got {runtime!r}",
                         name="runtime", expected=RUNTIMES, got=runtime)
    mod = _import(runtime)
    if mod is None:
        raise RuntimeUnavailableError(f"the {runtime} runtime is not installed",
                                      feature="infer", extra="infer")
    return runtime, mod
