# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Method comparison on equal terms: plain GRPO, every seed method and every baseline, same task, steps and seeds.

    python benchmarks/compare_methods.py --seeds 42 43 44 --jobs 2 \
        --output benchmarks/results/compare_methods_cpu.json

Trains plain GRPO, the seed methods (entropy advantage, PPL and position shaping, PAEC, SENT in its two stages, PPO
with and without the entropy advantage), Clip-Cov and KL-Cov, and TRL's entropy controls run as baselines (entropy
regularisation, adaptive entropy control, the 80/20 high-entropy mask, CISPO), and two ablations that switch on
methods whose recipes do not act on this task in 150 steps (`position_always`, `paec_high_floor`), on the step-by-step
countdown task,
from their recipes in `recipes/tiny_steps/`, for each seed; evaluates every run and the starting policy with
`trl-entropy eval --benchmark countdown-steps` (Acc@N, Maj@N, pass@k for k up to N, default N = 64); and writes:

- the JSON report (`--output`, default `<runs-dir>/compare_methods.json`): settings, wall time, the starting policy's
  evaluation, mean and standard deviation over seeds per method (`table`), every run (`runs`) and the seed-mean
  training curves (`curves`);
- a Markdown table beside it (`.md`, mean ± std over seeds), and a second one of each method's difference to plain
  GRPO run with the same seed (`paired_differences` in the JSON: mean ± std over seeds of `method - grpo`);
- figures beside it: `_pass_at_k.png` (pass@k against k of every method, mean over seeds, and the starting policy;
  beside it, each method's difference to plain GRPO)
  and `_training_curves.png` (reward, entropy and response length `completions/mean_length` against the step, mean
  over seeds, from each run's `trainer_state.json`).

The decision-position metrics of the step task (entropy at decision and at forced positions, PAEC's mask precision
and recall, ...) are reported as in `countdown_steps_methods.py`, whose machinery (`method_runs.py`) this script
shares. Finished runs and evaluations are reused on restart; `--methods`, `--seeds`, `--max-steps`,
`--eval-problems` and `--num-samples` make a short run.
"""

import argparse
import math
import os
import statistics

from method_runs import VARIANTS, add_arguments, markdown_table, run_all, stage_dirs, training_log, write_report


CURVE_KEYS = ("reward", "entropy", "completions/mean_length")
POSITION_COLUMNS = (
    ("H decision", "entropy_decision"),
    ("H forced", "entropy_forced"),
    ("decision share", "decision_share"),
    ("PAEC precision", "paec_precision"),
    ("PAEC recall", "paec_recall"),
)


def table_columns(num_samples: int) -> list[tuple[str, str]]:
    """Acc@N, Maj@N, pass@1, pass@16 and pass@N (those at most N), the last steps' training figures, minutes."""
    ks = sorted({k for k in (1, 16, 64) if k <= num_samples} | {num_samples})
    return [
        (f"Acc@{num_samples}", f"acc_at_{num_samples}"),
        (f"Maj@{num_samples}", f"maj_at_{num_samples}"),
        *((f"pass@{k}", f"pass_at_{k}") for k in ks),
        ("reward", "reward"),
        ("entropy", "entropy"),
        ("length", "mean_length"),
        *POSITION_COLUMNS,
        ("minutes", "minutes"),
    ]


def pass_at_k_ks(metrics: dict) -> list[int]:
    """The budgets k of the `pass_at_k` keys of an evaluation, in increasing order."""
    return sorted(int(key.rsplit("_", 1)[1]) for key in metrics if key.startswith("pass_at_"))


PAIRED_COLUMNS = (("pass@1", "pass_at_1"), ("pass@16", "pass_at_16"), ("pass@64", "pass_at_64"),
                  ("entropy", "entropy"), ("H decision", "entropy_decision"))  # fmt: skip


def paired_differences(runs: list[dict], reference: str = "grpo") -> dict[str, dict[str, dict[str, float]]]:
    """Per variant and figure, the mean and standard deviation over seeds of `variant - reference` with both runs of
    the same seed (the same prompts in the same order and the same starting weights), which removes the part of the
    seed noise the two runs share."""
    by_seed = {(run["variant"], run["seed"]): run for run in runs}
    differences = {}
    for variant in dict.fromkeys(run["variant"] for run in runs):
        if variant == reference:
            continue
        differences[variant] = {}
        for _, key in PAIRED_COLUMNS:
            values = [
                run[key] - by_seed[(reference, seed)][key]
                for (name, seed), run in by_seed.items()
                if name == variant
                and (reference, seed) in by_seed
                and run.get(key) is not None
                and by_seed[(reference, seed)].get(key) is not None
            ]
            if values:
                std = statistics.stdev(values) if len(values) > 1 else math.nan
                differences[variant][key] = {"mean": statistics.fmean(values), "std": std, "n": len(values)}
    return differences


def paired_table(differences: dict) -> str:
    """Markdown: `mean ± std` over seeds of each paired difference to GRPO."""
    lines = ["| variant | " + " | ".join(f"Δ {name}" for name, _ in PAIRED_COLUMNS) + " |"]
    lines.append("| --- " * (len(PAIRED_COLUMNS) + 1) + "|")
    for variant, row in differences.items():
        cells = [
            f"{row[key]['mean']:+.3f} ± {row[key]['std']:.3f}" if key in row else "-" for _, key in PAIRED_COLUMNS
        ]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mean_curves(args) -> dict[str, dict[str, dict[str, list[float]]]]:
    """Per method and logged key, the steps and the mean over seeds at each step (steps logged by every seed)."""
    curves = {}
    for variant in args.variants:
        histories = [training_log(stage_dirs(variant, seed, args.runs_dir)) for seed in args.seeds]
        curves[variant] = {}
        for key in CURVE_KEYS:
            by_step = [
                {e["step"]: e[key] for e in history if isinstance(e.get(key), int | float) and not math.isnan(e[key])}
                for history in histories
            ]
            steps = sorted(set.intersection(*(set(values) for values in by_step)))
            curves[variant][key] = {
                "step": steps,
                "mean": [statistics.fmean(values[step] for values in by_step) for step in steps],
            }
    return curves


def plot(report: dict, prefix: str) -> list[str]:
    """Draw the pass@k figure and the training-curve figure; the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from trl_entropy.plotting import plot_runs

    # One colour per method on both figures; tab20 tells up to 20 methods apart (the default cycle repeats at 10):
    # its ten dark shades first, then their light pairs.
    palette = plt.get_cmap("tab20").colors[::2] + plt.get_cmap("tab20").colors[1::2]
    colors = {variant: palette[index % len(palette)] for index, variant in enumerate(report["table"])}
    pass_at_k_path = prefix + "_pass_at_k.png"
    # Left: pass@k of every method; right: its difference to plain GRPO's (when GRPO ran), where methods that differ
    # by a point or two are told apart.
    reference = report["table"].get("grpo")
    fig, axes = plt.subplots(1, 2 if reference else 1, figsize=(13.0 if reference else 7.5, 5.0), squeeze=False)
    base = report["base"]
    ks = pass_at_k_ks(base)
    title = f"countdown-steps, {report['settings']['eval_problems']} problems"
    axes[0, 0].plot(ks, [base[f"pass_at_{k}"] for k in ks], "k--", linewidth=1.5, label="starting policy")
    if reference:
        reference_ks = pass_at_k_ks(reference)
        grpo = {k: reference[f"pass_at_{k}"]["mean"] for k in reference_ks}
        shared = [k for k in ks if k in grpo]
        axes[0, 1].plot(shared, [base[f"pass_at_{k}"] - grpo[k] for k in shared], "k--", linewidth=1.5,
                        label="starting policy")  # fmt: skip
        axes[0, 1].axhline(0.0, color="grey", linewidth=0.8)
    for variant, row in report["table"].items():
        ks = pass_at_k_ks(row)
        means = [row[f"pass_at_{k}"]["mean"] for k in ks]
        axes[0, 0].plot(ks, means, marker="o", markersize=3, linewidth=1.0, color=colors[variant], label=variant)
        if reference and variant != "grpo":
            shared = [k for k in ks if k in grpo]
            axes[0, 1].plot(shared, [row[f"pass_at_{k}"]["mean"] - grpo[k] for k in shared], marker="o",
                            markersize=3, linewidth=1.0, color=colors[variant], label=variant)  # fmt: skip
    for ax, ylabel in zip(
        axes[0], ("pass@k (mean over seeds)", "pass@k minus GRPO's (mean over seeds)"), strict=False
    ):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_xlabel("k (samples per problem)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(pass_at_k_path, dpi=100)
    plt.close(fig)

    curves_path = prefix + "_training_curves.png"
    histories = {
        variant: [
            {"step": step, key: value}
            for key, curve in curves.items()
            for step, value in zip(curve["step"], curve["mean"], strict=True)
        ]
        for variant, curves in report["curves"].items()
    }
    plot_runs(histories, curves_path, keys=list(CURVE_KEYS), title="training curves, mean over seeds", colors=colors)
    return [pass_at_k_path, curves_path]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser, default_variants=VARIANTS, runs_dir="compare_methods")
    args = parser.parse_args(argv)
    if args.output is None:
        args.output = os.path.join(args.runs_dir, "compare_methods.json")
    report = run_all(args)
    report["curves"] = mean_curves(args)
    report["paired_differences"] = paired_differences(report["runs"])
    text = markdown_table(report["table"], report["base"], table_columns(args.eval_samples))
    text += (
        f"\n\nMean ± std over seeds {', '.join(map(str, args.seeds))}; {args.max_steps} steps per run; "
        f"{args.eval_problems} problems x {args.eval_samples} samples; wall time {report['wall_minutes']:.1f} min "
        f"({args.jobs} jobs x {args.threads} thread(s))."
    )
    if report["paired_differences"]:
        text += "\n\nDifference to plain GRPO with the same seed (mean ± std over seeds):\n\n" + paired_table(
            report["paired_differences"]
        )
    print(text)
    prefix = os.path.splitext(args.output)[0]
    report["figures"] = [os.path.basename(path) for path in plot(report, prefix)]
    write_report(report, text, args.output)
    return report


if __name__ == "__main__":
    main()
