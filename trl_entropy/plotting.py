# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Training curves from a `trainer_state.json` log history (matplotlib, from the `viz` extra)."""

import json
import math
import os
from collections.abc import Sequence
from typing import Any


# Panels drawn first when present, in this order; method metrics (`entropy/...`) follow.
DEFAULT_CURVES = ("reward", "entropy", "completions/mean_length", "frac_reward_zero_std")
# Quantities drawn together in one panel (title -> keys) when present, instead of one panel each.
CURVE_GROUPS = {
    "PAEC: masked vs unmasked entropy": (
        "entropy/paec_masked_entropy",
        "entropy/paec_unmasked_entropy",
        "entropy/paec_floor",
    ),
}


def is_matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def load_log_history(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read the `log_history` of a `trainer_state.json` file (or of the one inside a directory)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "trainer_state.json")
    with open(path) as f:
        return json.load(f)["log_history"]


def curve(log_history: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """Steps and values of one logged quantity, skipping entries without it and missing (`None`/NaN) values."""
    steps, values = [], []
    for entry in log_history:
        value = entry.get(key)
        if isinstance(value, int | float) and not math.isnan(value) and "step" in entry:
            steps.append(entry["step"])
            values.append(float(value))
    return steps, values


def plot_training_curves(
    log_history: Sequence[dict[str, Any]],
    output_path: str | os.PathLike,
    keys: Sequence[str | tuple[str, ...]] | None = None,
    title: str | None = None,
    stage_boundary: int | None = None,
) -> list[str]:
    r"""
    Plot logged quantities against the optimizer step, one panel each, and save the figure as a PNG.

    Args:
        log_history (`Sequence[dict[str, Any]]`):
            `trainer.state.log_history`, or the `log_history` of a `trainer_state.json` (see [`load_log_history`]).
        output_path (`str` or `os.PathLike`):
            Where to write the PNG.
        keys (`Sequence[str | tuple[str, ...]]`, *optional*):
            Logged keys to plot, one panel each; a tuple of keys shares one panel (one line per key). Defaults to
            reward, entropy, mean completion length, the share of zero-spread groups, every `entropy/...` method
            metric present, and the groups of `CURVE_GROUPS` (e.g. PAEC's masked and unmasked entropy with its floor)
            in one panel each.
        title (`str`, *optional*):
            Figure title.
        stage_boundary (`int`, *optional*):
            Step where the plateau stage begins (e.g. [`~trl_entropy.stage_detector.StageDetector.plateau_step`]);
            drawn as a vertical dashed line labelled "plateau" on every panel.

    Returns:
        `list[str]`: The keys that were plotted (keys with no logged value are left out).
    """
    import matplotlib

    matplotlib.use("Agg")  # no display on training machines
    import matplotlib.pyplot as plt

    if keys is None:
        # `entropy/plateau_step` is a constant once set: the dashed `stage_boundary` line shows it better.
        method_keys = sorted(
            {k for entry in log_history for k in entry if k.startswith("entropy/") and k != "entropy/plateau_step"}
        )
        grouped = [group for group in CURVE_GROUPS.values() if any(key in method_keys for key in group)]
        in_groups = {key for group in grouped for key in group}
        keys = [*DEFAULT_CURVES, *grouped, *(key for key in method_keys if key not in in_groups)]
    titles = {group: title for title, group in CURVE_GROUPS.items()}
    panels = {}  # title -> {key: (steps, values)}
    for entry in keys:
        group = (entry,) if isinstance(entry, str) else tuple(entry)
        lines = {key: xy for key in group if (xy := curve(log_history, key))[0]}
        if lines:
            panels[titles.get(group, " / ".join(group))] = lines
    if not panels:
        raise ValueError(f"None of the keys {list(keys)} has a logged value; nothing to plot.")
    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.0 * rows), squeeze=False)
    for ax, (panel_title, lines) in zip(axes.flat, panels.items(), strict=False):
        for key, (steps, values) in lines.items():
            ax.plot(steps, values, linewidth=1.2, label=key if len(lines) > 1 else None)
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if stage_boundary is not None:
            ax.axvline(stage_boundary, color="tab:red", linestyle="--", linewidth=1.0, label="plateau")
        if stage_boundary is not None or len(lines) > 1:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(output_path, dpi=100)
    plt.close(fig)
    return [key for lines in panels.values() for key in lines]
