"""Short renderings of values for messages and summaries."""

from __future__ import annotations

__all__ = ["fmt", "short"]


def short(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters with an ellipsis."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fmt(x: object) -> str:
    """Six significant digits for floats, ``str`` for anything else."""
    return f"{x:.6g}" if isinstance(x, float) else str(x)
