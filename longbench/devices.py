"""Devices and dtypes: a bad or unavailable device is a one-line error before any work starts; dtype names
have one home here (options declare ``Dtype``, loaders call :func:`torch_dtype`). Torch is imported only
inside the functions, so option declarations can use these names without importing it."""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Any, Literal

from longbench.errors import LongbenchError

if TYPE_CHECKING:
    import torch

#: the weight dtypes a model can be loaded in, by their torch names (a ``dtype`` option's type)
Dtype = Literal["float32", "float16", "bfloat16"]
DTYPES: tuple[str, ...] = typing.get_args(Dtype)
#: accelerate's ``mixed_precision`` values → the dtype of the frozen weights in training
MIXED_PRECISION_DTYPES: dict[str, str] = {"no": "float32", "fp16": "float16", "bf16": "bfloat16"}


def torch_dtype(name: str, where: str = "dtype") -> torch.dtype:
    """``"float16"`` → ``torch.float16``; a name outside :data:`DTYPES` is a LongbenchError naming ``where``."""
    import torch

    if name not in DTYPES:
        raise LongbenchError(f"{where} {name!r}: expected one of {', '.join(DTYPES)}")
    return getattr(torch, name)


def device_dtype(name: str, device: Any, where: str = "dtype") -> torch.dtype:
    """:func:`torch_dtype` for weights that will run on ``device``, refusing a dtype the device cannot run
    well with a one-line LongbenchError: ``float16`` on the CPU (its half-precision matmuls are emulated,
    several times slower than float32: use ``bfloat16`` there), ``bfloat16`` on a GPU without native
    support, and any dtype another backend (MPS ...) fails a small matmul in."""
    import torch

    dtype = torch_dtype(name, where)
    d = torch.device(device)
    if dtype == torch.float32:
        return dtype
    if d.type == "cpu" and dtype == torch.float16:
        raise LongbenchError(f"{where} float16 on cpu: refused (CPU half-precision matmuls are emulated, several "
                             "times slower than float32); use bfloat16 or float32 on the CPU")
    if d.type == "cuda" and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported(including_emulation=False):
        raise LongbenchError(f"{where} bfloat16 on {device}: this GPU has no native bfloat16; use float16 or float32")
    if d.type not in ("cpu", "cuda"):
        try:
            x = torch.ones(2, 2, dtype=dtype, device=d)
            (x @ x).sum().item()
        except (RuntimeError, TypeError) as e:
            raise LongbenchError(f"{where} {name} on {device}: not supported by this device "
                                 f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    return dtype


def check_device(device: str, flag: str = "--device") -> str:
    """Validate a torch device string (``cpu``, ``cuda``, ``cuda:1``, ``mps``) and return it."""
    import torch

    try:
        d = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as e:
        raise LongbenchError(f"{flag} {device!r}: not a torch device ({str(e).splitlines()[0]})") from None
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise LongbenchError(f"{flag} {device}: CUDA is not available on this machine")
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise LongbenchError(f"{flag} {device}: only {torch.cuda.device_count()} CUDA device(s)")
    if d.type == "mps" and not torch.backends.mps.is_available():
        raise LongbenchError(f"{flag} {device}: MPS is not available on this machine")
    return device
