# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Training curves from `trainer_state.json` log histories (matplotlib, from the `viz` extra): the curves of one run
([`plot_training_curves`]) and the curves of several runs on one figure ([`plot_runs`])."""

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any


# Panels drawn first when present, in this order; method metrics (`entropy/...`) follow.
DEFAULT_CURVES = ("reward", "entropy", "completions/mean_length", "frac_reward_zero_std")
# Panels drawn first when comparing runs; every `entropy/...` method metric logged by any run follows.
DEFAULT_COMPARISON_CURVES = ("reward", "entropy", "completions/mean_length")
# Quantities drawn together in one panel (title -> keys) when present, instead of one panel each.
CURVE_GROUPS = {
    "PAEC: masked vs unmasked entropy": (
        "entropy/paec_masked_entropy",
        "entropy/paec_unmasked_entropy",
        "entropy/paec_floor",
    ),
}
# `entropy/plateau_step` is a constant once set: a dashed `stage_boundary` line shows it better than a curve.
_NOT_CURVES = ("entropy/plateau_step",)


def is_matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def load_log_history(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read the `log_history` of a `trainer_state.json` file (or of the one inside a directory)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Run directory or trainer_state.json {path!r} does not exist.")
    if os.path.isdir(path):
        state_path = os.path.join(path, "trainer_state.json")
        if not os.path.isfile(state_path):
            raise FileNotFoundError(
                f"No trainer_state.json in {path!r}: is it the `output_dir` of a finished run (the Trainer writes the "
                "file at every checkpoint and at `save_state()`)?"
            )
        path = state_path
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


def logged_keys(log_history: Sequence[dict[str, Any]]) -> list[str]:
    """Sorted keys with at least one plottable (numeric, non-NaN) value in a log history."""
    return sorted({key for entry in log_history for key in entry if key != "step" and curve([entry], key)[0]})


def _method_keys(log_histories: Sequence[Sequence[dict[str, Any]]]) -> list[str]:
    """Every `entropy/...` method metric logged in any of the histories, sorted."""
    return sorted(
        {
            key
            for log_history in log_histories
            for entry in log_history
            for key in entry
            if key.startswith("entropy/") and key not in _NOT_CURVES
        }
    )


# With more runs than this, `_draw_panels` draws one legend below the panels instead of one in each.
SHARED_LEGEND_ABOVE = 6


def _draw_panels(
    panels: Mapping[str, Mapping[str, tuple[list[int], list[float]]]],
    output_path: str | os.PathLike,
    title: str | None = None,
    stage_boundary: int | None = None,
    colors: Mapping[str, str] | None = None,
    always_legend: bool = False,
) -> None:
    """Draw `panels` (panel title -> {line label -> (steps, values)}) on a grid of at most 3 columns; save a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display on training machines
    import matplotlib.pyplot as plt

    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    labels = list(dict.fromkeys(label for lines in panels.values() for label in lines))
    # Beyond a few runs a legend in every panel hides the curves: one legend for the figure, below the panels.
    shared_legend = len(labels) > SHARED_LEGEND_ABOVE
    legend_columns = min(6, len(labels))
    legend_height = 0.25 * math.ceil(len(labels) / legend_columns) + 0.2 if shared_legend else 0.0  # inches
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.0 * rows + legend_height), squeeze=False)
    handles = {}
    for ax, (panel_title, lines) in zip(axes.flat, panels.items(), strict=False):
        show_legend = always_legend or len(lines) > 1
        for label, (steps, values) in lines.items():
            color = None if colors is None else colors.get(label)
            (handles[label],) = ax.plot(
                steps, values, linewidth=1.2, label=label if show_legend else None, color=color
            )
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if stage_boundary is not None:
            ax.axvline(stage_boundary, color="tab:red", linestyle="--", linewidth=1.0, label="plateau")
        if stage_boundary is not None or (show_legend and not shared_legend):
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    if shared_legend:
        fig.legend([handles[label] for label in labels], labels, loc="lower center", ncol=legend_columns, fontsize=8,
                   frameon=False)  # fmt: skip
        fig.tight_layout(rect=(0, legend_height / fig.get_figheight(), 1, 1))
    else:
        fig.tight_layout()
    fig.savefig(output_path, dpi=100)
    plt.close(fig)


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
    if keys is None:
        method_keys = _method_keys([log_history])
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
        raise ValueError(
            f"None of the keys {list(keys)} has a logged value; nothing to plot. Logged keys: "
            f"{', '.join(logged_keys(log_history)) or 'none'}."
        )
    _draw_panels(panels, output_path, title=title, stage_boundary=stage_boundary)
    return [key for lines in panels.values() for key in lines]


def _run_label(path: str | os.PathLike) -> str:
    """A run's name: its directory's name (the parent directory's for a `trainer_state.json` path)."""
    path = os.path.normpath(os.path.abspath(os.fspath(path)))
    if os.path.isfile(path):
        path = os.path.dirname(path)
    return os.path.basename(path)


def plot_runs(
    runs: Mapping[str, str | os.PathLike | Sequence[dict[str, Any]]] | Sequence[str | os.PathLike],
    output: str | os.PathLike,
    keys: Sequence[str] | None = None,
    title: str | None = None,
    colors: Mapping[str, Any] | None = None,
) -> list[str]:
    r"""
    Compare several runs: one panel per logged quantity, one line per run, against the optimizer step; save a PNG.

    Args:
        runs (`Mapping[str, str | list[dict]]` or `Sequence[str]`):
            The runs. A mapping from label to run directory, `trainer_state.json` path or log history (e.g.
            `trainer.state.log_history`); or a sequence of run directories (or `trainer_state.json` paths), each
            labelled with its directory's name.
        output (`str` or `os.PathLike`):
            Where to write the PNG.
        keys (`Sequence[str]`, *optional*):
            Logged keys to plot, one panel each. Defaults to reward, entropy, mean completion length, and every
            `entropy/...` method metric logged by any of the runs; defaults no run logged are left out.
        title (`str`, *optional*):
            Figure title.
        colors (`Mapping[str, Any]`, *optional*):
            A matplotlib colour per run label (e.g. to match another figure, or for more than 10 runs); defaults to
            `C0`, `C1`, ... in run order, repeating after ten runs.

    Returns:
        `list[str]`: The keys that were plotted, in panel order.

    Raises:
        `FileNotFoundError`: A run directory, or its `trainer_state.json`, does not exist.
        `ValueError`: No run was given, or one of the requested `keys` was logged by none of the runs.
    """
    if isinstance(runs, Mapping):
        items = list(runs.items())
    else:
        if isinstance(runs, str | os.PathLike):
            runs = [runs]
        labels = [_run_label(path) for path in runs]
        # Two runs with the same directory name (e.g. `a/run`, `b/run`) keep their full paths to stay apart.
        items = [
            (os.fspath(path) if labels.count(label) > 1 else label, path)
            for label, path in zip(labels, runs, strict=True)
        ]
    if not items:
        raise ValueError("`runs` is empty: give at least one run directory or log history.")
    histories = {
        str(label): load_log_history(run) if isinstance(run, str | os.PathLike) else list(run) for label, run in items
    }
    if keys is None:
        keys = [*DEFAULT_COMPARISON_CURVES, *_method_keys(list(histories.values()))]
        explicit = False
    else:
        keys = [keys] if isinstance(keys, str) else list(keys)
        explicit = True
    # One colour per run on every panel, also on panels where some runs have no line.
    colors = {label: f"C{i % 10}" for i, label in enumerate(histories)} | dict(colors or {})
    panels = {}  # key -> {run label: (steps, values)}
    for key in keys:
        lines = {label: xy for label, history in histories.items() if (xy := curve(history, key))[0]}
        if lines:
            panels[key] = lines
        elif explicit:
            available = sorted({k for history in histories.values() for k in logged_keys(history)})
            raise ValueError(
                f"Key {key!r} was logged by none of the runs {list(histories)}; available keys: "
                f"{', '.join(available) or 'none'}."
            )
    if not panels:
        raise ValueError(f"None of the runs {list(histories)} logged any of {keys}; nothing to plot.")
    _draw_panels(panels, output, title=title, colors=colors, always_legend=True)
    return list(panels)
