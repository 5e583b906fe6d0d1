"""The few array operations the segment descriptors need, for NumPy and for torch.

Why an adapter: the descriptor maths (integrity.features.frames) is written once against this
small interface, so the librosa/NumPy backend and the batched torchaudio backend compute the
same vector by construction; only framing, FFTs and reductions differ per library.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class ArrayOps(Protocol):
    """Operations on batched arrays (leading axis = segment)."""

    name: str

    def asarray(self, x: np.ndarray) -> Any: ...
    def to_numpy(self, x: Any) -> np.ndarray: ...
    def ascomplex(self, x: np.ndarray) -> Any: ...
    def frame(self, x: Any, size: int, hop: int) -> Any: ...
    def rfft(self, x: Any, n: int) -> Any: ...
    def irfft(self, x: Any, n: int) -> Any: ...
    def abs(self, x: Any) -> Any: ...
    def angle(self, x: Any) -> Any: ...
    def real(self, x: Any) -> Any: ...
    def conj(self, x: Any) -> Any: ...
    def log10(self, x: Any) -> Any: ...
    def sqrt(self, x: Any) -> Any: ...
    def exp(self, x: Any) -> Any: ...
    def log2(self, x: Any) -> Any: ...
    def mean(self, x: Any, axis: int) -> Any: ...
    def sum(self, x: Any, axis: int) -> Any: ...
    def std(self, x: Any, axis: int) -> Any: ...
    def amax(self, x: Any, axis: int) -> Any: ...
    def argmax(self, x: Any, axis: int) -> Any: ...
    def cumsum(self, x: Any, axis: int) -> Any: ...
    def quantile(self, x: Any, q: float, axis: int) -> Any: ...
    def clip(self, x: Any, low: float | None, high: float | None) -> Any: ...
    def where(self, cond: Any, a: Any, b: Any) -> Any: ...
    def as_float(self, x: Any) -> Any: ...


class NumpyOps:
    """NumPy in float64 (the default backend)."""

    name = "numpy"

    def asarray(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)

    def to_numpy(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)

    def ascomplex(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.complex128)

    def frame(self, x: np.ndarray, size: int, hop: int) -> np.ndarray:
        return np.lib.stride_tricks.sliding_window_view(x, size, axis=-1)[..., ::hop, :]

    def rfft(self, x: np.ndarray, n: int) -> np.ndarray:
        return np.fft.rfft(x, n=n, axis=-1)

    def irfft(self, x: np.ndarray, n: int) -> np.ndarray:
        return np.fft.irfft(x, n=n, axis=-1)

    def abs(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.abs(x)
        return out

    def angle(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.angle(x)
        return out

    def real(self, x: np.ndarray) -> np.ndarray:
        return np.real(x)

    def conj(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.conj(x)
        return out

    def log10(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.log10(x)
        return out

    def sqrt(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.sqrt(x)
        return out

    def exp(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.exp(x)
        return out

    def log2(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.log2(x)
        return out

    def mean(self, x: np.ndarray, axis: int) -> np.ndarray:
        out: np.ndarray = np.mean(x, axis=axis)
        return out

    def sum(self, x: np.ndarray, axis: int) -> np.ndarray:
        out: np.ndarray = np.sum(x, axis=axis)
        return out

    def std(self, x: np.ndarray, axis: int) -> np.ndarray:
        out: np.ndarray = np.std(x, axis=axis)
        return out

    def amax(self, x: np.ndarray, axis: int) -> np.ndarray:
        out: np.ndarray = np.max(x, axis=axis)
        return out

    def argmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        out: np.ndarray = np.argmax(x, axis=axis).astype(np.float64)
        return out

    def cumsum(self, x: np.ndarray, axis: int) -> np.ndarray:
        return np.cumsum(x, axis=axis)

    def quantile(self, x: np.ndarray, q: float, axis: int) -> np.ndarray:
        out: np.ndarray = np.quantile(x, q, axis=axis)
        return out

    def clip(self, x: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
        out: np.ndarray = np.clip(x, low, high)
        return out

    def where(self, cond: np.ndarray, a: Any, b: Any) -> np.ndarray:
        out: np.ndarray = np.where(cond, a, b)
        return out

    def as_float(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)


class TorchOps:
    """torch on CPU or GPU; float64 by default so it matches the NumPy backend closely."""

    name = "torch"

    def __init__(self, device: str = "cpu", dtype: str = "float64") -> None:
        import torch

        self._torch = torch
        self.device = torch.device(device)
        self.dtype = getattr(torch, dtype)

    def asarray(self, x: np.ndarray) -> Any:
        return self._torch.as_tensor(np.asarray(x), dtype=self.dtype, device=self.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        out: np.ndarray = x.detach().to("cpu", self._torch.float64).numpy()
        return out

    def ascomplex(self, x: np.ndarray) -> Any:
        complex_dtype = (
            self._torch.complex128 if self.dtype == self._torch.float64 else (self._torch.complex64)
        )
        return self._torch.as_tensor(np.asarray(x), dtype=complex_dtype, device=self.device)

    def frame(self, x: Any, size: int, hop: int) -> Any:
        return x.unfold(-1, size, hop)

    def rfft(self, x: Any, n: int) -> Any:
        return self._torch.fft.rfft(x, n=n, dim=-1)

    def irfft(self, x: Any, n: int) -> Any:
        return self._torch.fft.irfft(x, n=n, dim=-1)

    def abs(self, x: Any) -> Any:
        return self._torch.abs(x)

    def angle(self, x: Any) -> Any:
        return self._torch.angle(x)

    def real(self, x: Any) -> Any:
        return self._torch.real(x)

    def conj(self, x: Any) -> Any:
        return self._torch.conj(x)

    def log10(self, x: Any) -> Any:
        return self._torch.log10(x)

    def sqrt(self, x: Any) -> Any:
        return self._torch.sqrt(x)

    def exp(self, x: Any) -> Any:
        return self._torch.exp(x)

    def log2(self, x: Any) -> Any:
        return self._torch.log2(x)

    def mean(self, x: Any, axis: int) -> Any:
        return self._torch.mean(x, dim=axis)

    def sum(self, x: Any, axis: int) -> Any:
        return self._torch.sum(x, dim=axis)

    def std(self, x: Any, axis: int) -> Any:
        return self._torch.std(x, dim=axis, correction=0)

    def amax(self, x: Any, axis: int) -> Any:
        return self._torch.amax(x, dim=axis)

    def argmax(self, x: Any, axis: int) -> Any:
        return self._torch.argmax(x, dim=axis).to(self.dtype)

    def cumsum(self, x: Any, axis: int) -> Any:
        return self._torch.cumsum(x, dim=axis)

    def quantile(self, x: Any, q: float, axis: int) -> Any:
        return self._torch.quantile(x, q, dim=axis)

    def clip(self, x: Any, low: float | None, high: float | None) -> Any:
        return self._torch.clamp(x, min=low, max=high)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        if not self._torch.is_tensor(a):
            a = self._torch.as_tensor(a, dtype=self.dtype, device=self.device)
        if not self._torch.is_tensor(b):
            b = self._torch.as_tensor(b, dtype=self.dtype, device=self.device)
        return self._torch.where(cond, a, b)

    def as_float(self, x: Any) -> Any:
        return x.to(self.dtype)


def get_ops(backend: str, *, device: str = "cpu") -> ArrayOps:
    """The adapter for a backend name ("numpy" or "torch")."""
    if backend == "numpy":
        return NumpyOps()
    if backend == "torch":
        return TorchOps(device=device)
    raise ValueError(f"unknown feature backend {backend!r} (expected 'numpy' or 'torch')")
