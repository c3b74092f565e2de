"""Registry of publisher formats: every module in this package except ``base`` is a format.

Modules are discovered automatically, so adding a format is adding a file.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from types import ModuleType


def format_modules() -> list[ModuleType]:
    """All format modules, sorted by name (each has NAME, detect, read, stage)."""
    mods = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name == "base":
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if all(hasattr(mod, a) for a in ("NAME", "detect", "read", "stage")):
            mods.append(mod)
    return mods


def detect_format(path: Path) -> ModuleType | None:
    """The one format that recognises ``path``, or None."""
    for mod in format_modules():
        try:
            if mod.detect(path):
                return mod
        except Exception:  # a detector must never break discovery of other files
            continue
    return None
