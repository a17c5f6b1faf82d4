# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The curve PNGs of a model card: the training curves and the method metrics (`entropy/...`), plotted from a log
history (plain data, no trainer) into the card's folder.
"""

import os
from typing import Any

from ..plotting import CURVE_GROUPS, DEFAULT_CURVES, is_matplotlib_available, plot_training_curves
from .files import CURVES_FILENAME, METHOD_CURVES_FILENAME


# The method metrics (plotted in the method-metric figure), and those left out of it (a constant once set: the
# dashed plateau line shows it better).
METHOD_METRIC_PREFIX = "entropy/"
NOT_PLOTTED = ("entropy/plateau_step",)


def _method_curve_keys(log_history: list[dict[str, Any]]) -> list[str | tuple[str, ...]]:
    """The method metrics (`entropy/...`) logged, the groups of `CURVE_GROUPS` sharing one panel each."""
    method_keys = sorted(
        {
            key
            for entry in log_history
            for key in entry
            if key.startswith(METHOD_METRIC_PREFIX) and key not in NOT_PLOTTED
        }
    )
    grouped = [group for group in CURVE_GROUPS.values() if any(key in method_keys for key in group)]
    in_groups = {key for group in grouped for key in group}
    return [*grouped, *(key for key in method_keys if key not in in_groups)]


def write_curves(
    output_dir: str | os.PathLike,
    log_history: list[dict[str, Any]],
    title: str | None = None,
    stage_boundary: int | None = None,
) -> tuple[str | None, str | None]:
    r"""
    Plot the training curves (reward, entropy, completion length, share of zero-spread groups) and the method metrics
    (`entropy/...`) into two PNGs in `output_dir`, when matplotlib is installed and they were logged.

    Returns:
        `tuple[str | None, str | None]`: File names (relative to `output_dir`) of the two PNGs, `None` for one not
        written.
    """
    if not is_matplotlib_available() or not log_history:
        return None, None
    written = []
    for filename, keys, suffix in (
        (CURVES_FILENAME, list(DEFAULT_CURVES), ""),
        (METHOD_CURVES_FILENAME, _method_curve_keys(log_history), ": method metrics"),
    ):
        try:
            plot_training_curves(
                log_history,
                os.path.join(output_dir, filename),
                keys=keys,
                title=f"{title}{suffix}" if title else None,
                stage_boundary=stage_boundary,
            )
            written.append(filename)
        except ValueError:  # nothing plottable logged (yet)
            written.append(None)
    return written[0], written[1]


def saved_curves(output_dir: str | os.PathLike) -> tuple[str | None, str | None]:
    """The curve PNGs already in `output_dir` (written at save time), as [`write_curves`] names them: `None` for one
    not there."""
    return tuple(
        name if os.path.isfile(os.path.join(output_dir, name)) else None
        for name in (CURVES_FILENAME, METHOD_CURVES_FILENAME)
    )


__all__ = ["saved_curves", "write_curves"]
