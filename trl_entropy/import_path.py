# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Objects named by an import path `package.module.function`: recipe reward functions, answer extractors."""

from __future__ import annotations

import importlib
from collections.abc import Callable


class ImportPathError(ValueError):
    """An import path names nothing importable or callable."""


def import_callable(path: str, what: str = "function") -> Callable:
    """
    The callable named by an import path `package.module.function`.

    Args:
        path (`str`):
            The import path, for example `"my_rewards.exact_match"`; the module must be importable (run with
            `PYTHONPATH=.` for a module of your own).
        what (`str`, *optional*, defaults to `"function"`):
            What the callable is for, as error messages name it (e.g. `"reward function"`).

    Returns:
        `Callable`: The object.

    Raises:
        [`ImportPathError`]: When the path has no module part, cannot be imported, or names a non-callable.
    """
    if not isinstance(path, str) or "." not in path.strip("."):
        raise ImportPathError(f"{what} {path!r} is not an import path `package.module.function`.")
    module_path, name = path.rsplit(".", 1)
    try:
        found = getattr(importlib.import_module(module_path), name)
    except (ImportError, AttributeError) as error:
        raise ImportPathError(
            f"{what} {path!r} cannot be imported ({type(error).__name__}: {error}); a module of your own must be "
            "importable, e.g. run with PYTHONPATH=."
        ) from None
    if not callable(found):
        raise ImportPathError(f"{what} {path!r} is a {type(found).__name__}, not a function.")
    return found
