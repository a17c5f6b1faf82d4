# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Lazy package exports (PEP 562): a method package's names are imported from their submodule on first use, so that
`trl_entropy.<method>.functional` (torch only) does not import the trainer, TRL and transformers."""

import importlib
import sys


def lazy_exports(package: str, exports: dict[str, str]):
    """`__getattr__`, `__dir__` and `__all__` for `package` whose name `n` lives in submodule `exports[n]`."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        setattr(sys.modules[package], name, value)  # cache: later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__, sorted(exports)
