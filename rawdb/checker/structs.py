"""The Struct a ``-- name: q -> Struct`` line names, looked up in the modules the caller lists."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import msgspec

__all__ = ["resolve_struct"]


def resolve_struct(ref: str, modules: Sequence[str]) -> type[msgspec.Struct] | str:
    """The Struct class, or why it cannot be found.

    ``Task`` is looked up in each of ``modules`` in turn; ``app.models.Task``
    imports ``app.models`` itself.
    """
    module_name, dot, name = ref.rpartition(".")
    candidates = [module_name] if dot else list(modules)
    if not candidates:
        return f"{ref!r} is not qualified and no models module was named (--models MODULE)"
    for candidate in candidates:
        try:
            module = importlib.import_module(candidate)
        except ImportError as exc:
            return f"cannot import {candidate} for {ref!r}: {exc}"
        found = getattr(module, name, None)
        if found is None:
            continue
        if isinstance(found, type) and issubclass(found, msgspec.Struct):
            return found
        return f"{candidate}.{name} is not a msgspec.Struct"
    return f"no Struct {name!r} in {', '.join(candidates)}"
