"""Device checks: a bad or unavailable device is a one-line error before any work starts."""

from __future__ import annotations

from longbench.errors import LongbenchError


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
