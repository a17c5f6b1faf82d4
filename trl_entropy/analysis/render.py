# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Figures (matplotlib, the `viz` extra) and the self-contained HTML report of `trl-entropy analyze`: one run, or
several side by side on every figure."""

import base64
import html
import math
import os
from collections.abc import Sequence
from typing import Any

from .text import ROLES


FIGURES_DIRNAME = "figures"
_GROUP_STYLES = {"all": "-", "correct": "--", "incorrect": ":"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finite(values: Sequence[Any]) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]


def _save(fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def _bin_centres(num_bins: int) -> list[float]:
    return [(index + 0.5) / num_bins for index in range(num_bins)]


def plot_profiles(runs: Sequence[tuple[str, dict]], path: str) -> str | None:
    """Mean H_t, G_t and branching factor by relative position, all / correct / incorrect completions, per run."""
    quantities = [
        q for q in ("entropy", "gradient_norm", "branching") if any(q in s.get("profiles", {}) for _, s in runs)
    ]
    if not quantities:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(quantities), figsize=(5 * len(quantities), 3.6), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    titles = {
        "entropy": "Token entropy H_t",
        "gradient_norm": "Gradient-norm proxy G_t",
        "branching": "Branching factor",
    }
    for ax, quantity in zip(axes[0], quantities, strict=True):
        for index, (name, summary) in enumerate(runs):
            for group, values in summary.get("profiles", {}).get(quantity, {}).items():
                values = _finite(values)
                ax.plot(_bin_centres(len(values)), values, _GROUP_STYLES[group], color=colours[index % len(colours)],
                        marker="o", markersize=3, label=f"{name} ({group})")  # fmt: skip
        ax.set_title(titles[quantity])
        ax.set_xlabel("relative position in the completion")
        ax.set_xlim(0, 1)
    # one legend under the panels: a run per colour, a group per line style
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.02), ncol=3, fontsize=7, frameon=False)
    return _save(fig, path)


def plot_roles(runs: Sequence[tuple[str, dict]], path: str) -> str | None:
    """Share and mean entropy of each token role, per run."""
    if not any(summary.get("roles") for _, summary in runs):
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    width = 0.8 / len(runs)
    for index, (name, summary) in enumerate(runs):
        roles = summary.get("roles", {})
        xs = [r + index * width for r in range(len(ROLES))]
        axes[0].bar(xs, [roles.get(role, {}).get("share", math.nan) for role in ROLES], width, label=name)
        entropies = _finite([roles.get(role, {}).get("mean_entropy") for role in ROLES])
        axes[1].bar(xs, entropies, width, label=name)
    for ax, title in zip(axes, ("share of tokens", "mean entropy (nats)"), strict=True):
        ax.set_xticks([r + 0.4 - width / 2 for r in range(len(ROLES))])
        ax.set_xticklabels([role.replace("_", "\n") for role in ROLES], fontsize=8)
        ax.set_title(title)
    axes[0].legend(fontsize=7)
    return _save(fig, path)


def plot_stages(runs: Sequence[tuple[str, dict]], path: str) -> str | None:
    """Entropy and reward over training steps, with the stage detector's plateau step."""
    if not any((summary.get("stages") or {}).get("entropy_curve") for _, summary in runs):
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, summary) in enumerate(runs):
        stages = summary.get("stages") or {}
        colour = colours[index % len(colours)]
        for ax, key in zip(axes, ("entropy_curve", "reward_curve"), strict=True):
            if stages.get(key):
                ax.plot(stages[key][0], stages[key][1], color=colour, label=name)
            if stages.get("plateau_step") is not None:
                ax.axvline(stages["plateau_step"], color=colour, linestyle="--", linewidth=1)
    axes[0].set_title("entropy (plateau step dashed)")
    axes[1].set_title("reward")
    for ax in axes:
        ax.set_xlabel("step")
    axes[0].legend(fontsize=7)
    return _save(fig, path)


def plot_impact(runs: Sequence[tuple[str, dict]], path: str) -> str | None:
    """I_t against H_t at the measured positions."""
    if not any((summary.get("impact") or {}).get("points") for _, summary in runs):
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.8))
    for name, summary in runs:
        points = (summary.get("impact") or {}).get("points") or []
        if points:
            ax.scatter([p[0] for p in points], [p[1] for p in points], s=10, alpha=0.6, label=name)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("token entropy H_t (nats)")
    ax.set_ylabel("performance impact I_t")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_quality(runs: Sequence[tuple[str, dict]], path: str) -> str | None:
    """Quality-issue rates over training steps (training-time records), or of the analysed completions."""
    plt = _plt()
    over_steps = any((summary.get("stages") or {}).get("training_records") for _, summary in runs)
    if over_steps:
        fig, ax = plt.subplots(figsize=(6, 3.8))
        for name, summary in runs:
            records = (summary.get("stages") or {}).get("training_records") or []
            for flag in ("any_issue", "repetitive", "garbled", "language_mixing", "missing_boxed", "multiple_boxed"):
                values = [r["metrics"].get(f"quality_{flag}") for r in records]
                if any(v for v in values if v is not None):
                    ax.plot([r["step"] for r in records], _finite(values), marker="o", markersize=3,
                            label=f"{name}: {flag}")  # fmt: skip
            if records and all(not r["metrics"].get("quality_any_issue") for r in records):
                ax.plot([r["step"] for r in records], [0.0] * len(records), label=f"{name}: any_issue")
        ax.set_xlabel("step")
        ax.set_ylabel("share of completions")
        ax.set_title("quality issues during training")
        top = max((line.get_ydata().max() for line in ax.get_lines() if len(line.get_ydata())), default=0.0)
        ax.set_ylim(0, max(0.05, 1.2 * float(top)))
        if top == 0:
            ax.text(0.5, 0.5, "no completion had a quality issue", transform=ax.transAxes, ha="center")
    else:
        if not any(summary.get("quality") for _, summary in runs):
            return None
        fig, ax = plt.subplots(figsize=(6, 3.8))
        flags = list(next(summary["quality"] for _, summary in runs if summary.get("quality")))
        width = 0.8 / len(runs)
        for index, (name, summary) in enumerate(runs):
            quality = summary.get("quality") or {}
            ax.bar([f + index * width for f in range(len(flags))], [quality.get(flag, math.nan) for flag in flags],
                   width, label=name)  # fmt: skip
        ax.set_xticks([f + 0.4 - width / 2 for f in range(len(flags))])
        ax.set_xticklabels([flag.replace("_", "\n") for flag in flags], fontsize=8)
        ax.set_title("quality issues of the analysed completions")
        highest = max((v for _, s in runs for v in (s.get("quality") or {}).values() if v is not None), default=0)
        ax.set_ylim(0, max(0.05, 1.2 * highest))
        if highest == 0:
            ax.text(0.5, 0.5, "no completion has a quality issue", transform=ax.transAxes, ha="center")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_pass_at_k(runs: Sequence[tuple[str, dict]], path: str) -> str | None:
    """Pass@k curves of the runs' evaluations of these weights."""
    if not any(summary.get("pass_at_k") for _, summary in runs):
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.8))
    for name, summary in runs:
        for benchmark, curve in (summary.get("pass_at_k") or {}).items():
            ks = sorted(int(k) for k in curve)
            ax.plot(ks, [curve[str(k)] for k in ks], marker="o", markersize=3, label=f"{name} ({benchmark})")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k")
    ax.set_ylabel("pass@k")
    ax.legend(fontsize=7)
    return _save(fig, path)


FIGURES = {
    "profile": plot_profiles,
    "roles": plot_roles,
    "stages": plot_stages,
    "impact_vs_entropy": plot_impact,
    "quality": plot_quality,
    "pass_at_k": plot_pass_at_k,
}


def write_figures(runs: Sequence[tuple[str, dict]], figures_dir: str) -> dict[str, str]:
    """Every figure that has data, as PNG files in `figures_dir`: name -> path. Empty without matplotlib."""
    from ..plotting import is_matplotlib_available

    if not is_matplotlib_available():
        return {}
    os.makedirs(figures_dir, exist_ok=True)
    written = {}
    for name, plot in FIGURES.items():
        path = plot(runs, os.path.join(figures_dir, f"{name}.png"))
        if path is not None:
            written[name] = path
    return written


# ---------------------------------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 75em; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.yes { color: #176117; font-weight: bold; } .no { color: #a31515; font-weight: bold; } .na { color: #777; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.note { color: #555; font-size: 0.9em; }
"""

_MAIN_METRICS = (
    ("accuracy", "accuracy of the analysed completions"),
    ("entropy", "mean token entropy (nats)"),
    ("entropy_correct", "entropy, correct completions"),
    ("entropy_incorrect", "entropy, incorrect completions"),
    ("entropy_ends", "entropy, first and last position bins"),
    ("entropy_middle", "entropy, middle bins"),
    ("gradient_norm", "mean G_t"),
    ("branching", "mean branching factor (top-p 0.95 nucleus size)"),
    ("quality_any_issue", "completions with a quality issue"),
)


_STAGE_COLUMNS = (
    ("entropy", "entropy"),
    ("entropy_correct", "entropy, correct"),
    ("entropy_incorrect", "entropy, incorrect"),
    ("entropy_u_shape", "U-shape (ends - middle)"),
    ("gradient_norm", "G_t"),
    ("branching", "branching"),
    ("quality_any_issue", "quality issues"),
)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def main_rows(summary: dict[str, Any]) -> list[tuple[str, Any]]:
    """The headline numbers of a run's analysis, as (label, value) rows (also used by the model card)."""
    metrics = {**summary.get("metrics", {}), "accuracy": summary.get("accuracy")}
    rows = [(label, metrics.get(name)) for name, label in _MAIN_METRICS]
    for role in ROLES:
        role_stats = (summary.get("roles") or {}).get(role, {})
        rows.append(
            (f"{role.replace('_', ' ')}: share / entropy", (role_stats.get("share"), role_stats.get("mean_entropy")))
        )
    impact = summary.get("impact") or {}
    if impact.get("num_positions"):
        rows.append(("mean I_t (measured positions)", impact.get("mean_impact")))
        rows.append(("Spearman(H_t, |I_t|)", impact.get("spearman_entropy_abs_impact")))
    rare = summary.get("rare") or {}
    if "rare_share" in rare:
        rows.append(
            ("entropy of rare / other sentences", (rare.get("mean_entropy_rare"), rare.get("mean_entropy_other")))
        )
    return rows


def _value_cell(value: Any) -> str:
    if isinstance(value, tuple):
        return " / ".join(_cell(v) for v in value)
    return _cell(value)


def _holds_cell(holds: bool | None) -> str:
    if holds is None:
        return '<span class="na">not measurable</span>'
    return '<span class="yes">holds</span>' if holds else '<span class="no">does not hold</span>'


def _data_uri(path: str) -> str:
    with open(path, "rb") as f:
        return "data:image/png;base64," + base64.b64encode(f.read()).decode("ascii")


def write_report_html(runs: Sequence[tuple[str, dict]], figures: dict[str, str], path: str) -> str:
    """One self-contained HTML page (inline CSS, figures embedded as data URIs, no script, no external link)."""
    names = [name for name, _ in runs]
    parts = [f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Entropy analysis</title><style>{_CSS}</style>"
             "</head><body><h1>Entropy analysis</h1>"]  # fmt: skip
    for name, summary in runs:
        parts.append(
            f'<p class="note"><b>{html.escape(name)}</b>: {summary.get("num_completions", 0)} completions of '
            f"{summary.get('num_prompts', 0)} prompts of {html.escape(str(summary.get('task')))} "
            f"(temperature {_cell(summary.get('decoding', {}).get('temperature'))}), weights "
            f"{html.escape(str(summary.get('weights_fingerprint', ''))[:19])}, {_cell(summary.get('wall_time_s'))} s.</p>"
        )
    parts.append("<h2>Main numbers</h2><table><tr><th></th>" + "".join(f"<th>{html.escape(n)}</th>" for n in names))
    parts.append("</tr>")
    for label in dict.fromkeys(label for _, s in runs for label, _ in main_rows(s)):
        values = [dict(main_rows(summary)).get(label) for _, summary in runs]
        parts.append(f"<tr><td>{html.escape(label)}</td>" + "".join(f"<td>{_value_cell(v)}</td>" for v in values))
        parts.append("</tr>")
    parts.append("</table><h2>The seeds' claims</h2>")
    for name, summary in runs:
        parts.append(f"<h3>{html.escape(name)}</h3><table><tr><th>claim</th><th>source</th><th>verdict</th>"
                     "<th>evidence</th></tr>")  # fmt: skip
        for claim in summary.get("claims", []):
            parts.append(
                f"<tr><td>{html.escape(claim['claim'])}</td><td>{html.escape(claim['source'])}</td>"
                f"<td>{_holds_cell(claim['holds'])}</td><td>{html.escape(claim['evidence'])}</td></tr>"
            )
        parts.append("</table>")
    stage_rows = [(name, summary["stages"]["per_stage"]) for name, summary in runs
                  if (summary.get("stages") or {}).get("per_stage")]  # fmt: skip
    if stage_rows:
        parts.append("<h2>By training stage</h2><p class=\"note\">From the training-time records of "
                     "<code>EntropyAnalysisCallback</code> (<code>entropy_analysis.jsonl</code>), split at the stage "
                     "detector's plateau step.</p><table><tr><th>run</th><th>stage</th>"
                     + "".join(f"<th>{html.escape(label)}</th>" for _, label in _STAGE_COLUMNS) + "</tr>")  # fmt: skip
        for name, per_stage in stage_rows:
            for stage, metrics in per_stage.items():
                parts.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(stage)}</td>"
                             + "".join(f"<td>{_cell(metrics.get(key))}</td>" for key, _ in _STAGE_COLUMNS) + "</tr>")  # fmt: skip
        parts.append("</table>")
    parts.append("<h2>Figures</h2>")
    if not figures:
        parts.append(
            '<p class="note">No figures: install matplotlib (<code>pip install "trl-entropy[viz]"</code>).</p>'
        )
    for name, figure in figures.items():
        parts.append(f"<h3>{html.escape(name.replace('_', ' '))}</h3><img alt=\"{html.escape(name)}\" "
                     f"src=\"{_data_uri(figure)}\">")  # fmt: skip
    parts.append("</body></html>\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(parts))
    return path
