"""pytest-think: Testing Hardware Independent Neural Kernels."""

from __future__ import annotations

__version__ = "0.1.0"
