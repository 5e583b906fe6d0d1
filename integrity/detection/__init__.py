"""Detection: signals that turn a delivered track into findings and scores for the policy.

The audio detectors' API is loaded on first use (LightGBM and the feature extractor are heavy),
so importing a light sibling such as the metadata signals stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "LoadedModel": "integrity.detection.registry",
    "ModelNotFoundError": "integrity.detection.registry",
    "load_model": "integrity.detection.registry",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """Import the audio-detector modules only when one of their names is used."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
