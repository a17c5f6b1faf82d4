# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Runs of the step-by-step countdown recipes, shared by `countdown_steps_methods.py` and `compare_methods.py`.

Every variant is a list of recipes of `recipes/tiny_steps/` trained with `recipes/train.py` for each seed in its own
process (SENT: its two stages one after the other, each for half the steps, so that it trains as many steps as the
others), then evaluated with `trl-entropy eval --benchmark countdown-steps` at temperature 1.0, top-p 1.0 (Acc@N,
Maj@N and pass@k from N samples per problem). The starting policy is evaluated the same way once. From the training
log, the position metrics (`task/`, `trl_entropy.position_metrics`) and the reward, entropy and response length are
averaged over the last `--last-steps` logged steps. Jobs run `--jobs` at a time, each with `--threads` torch threads.

Finished runs (same number of steps) and evaluations (same problems and samples) are reused, so a script can be
restarted where it stopped.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from seed_table import cell, summarize_variants


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = os.path.join(ROOT, "recipes", "tiny_steps")
BASE_POLICY = "trl-entropy/tiny-countdown-steps"
BENCHMARK = "countdown-steps"

# name -> recipes trained one after the other (each later one starts from the previous output)
SEED_METHODS = {
    "grpo": ["grpo.yaml"],
    "entropy_advantage": ["entropy_advantage.yaml"],
    "ppl": ["ppl.yaml"],
    "position": ["position.yaml"],
    "paec": ["paec.yaml"],
    "sent": ["sent_stage1.yaml", "sent_stage2.yaml"],
    "ppo": ["ppo.yaml"],
    "entropy_advantage_ppo": ["entropy_advantage_ppo.yaml"],
}
# The baselines of the seed papers: Clip-Cov and KL-Cov (trl-entropy methods), TRL's own entropy controls
# (`method: grpo` plus TRL's keys, docs/baselines.md).
BASELINES = {
    "clip_cov": ["clip_cov.yaml"],
    "kl_cov": ["kl_cov.yaml"],
    "entropy_regularization": ["entropy_regularization.yaml"],
    "adaptive_entropy": ["adaptive_entropy.yaml"],
    "high_entropy_mask": ["high_entropy_mask.yaml"],
    "cispo": ["cispo.yaml"],
}
# Two seed methods whose recipes never act on this task in 150 steps (no plateau is declared; the entropy stays above
# PAEC's floor), run again with the method switched on: ablations, labelled as such in docs/comparison.md.
ACTING_VARIANTS = {
    "position_always": ["position_always.yaml"],
    "paec_high_floor": ["paec_high_floor.yaml"],
}
VARIANTS = {**SEED_METHODS, **BASELINES, **ACTING_VARIANTS}
# log key -> result key, averaged over the last logged steps
LOGGED = {
    "reward": "reward",
    "entropy": "entropy",
    "completions/mean_length": "mean_length",
    "task/entropy_decision": "entropy_decision",
    "task/entropy_forced": "entropy_forced",
    "task/decision_share": "decision_share",
    "task/dead_share": "dead_share",
    "task/paec_mask_precision": "paec_precision",
    "task/paec_mask_recall": "paec_recall",
    "task/entropy_advantage_psi_decision": "psi_decision",
    "task/entropy_advantage_psi_forced": "psi_forced",
    "task/sent_selected_forced_share": "sent_selected_forced",
}


def add_arguments(parser, default_variants: Sequence[str], runs_dir: str) -> None:
    """The command line both scripts share (`--methods`/`--variants` and `--num-samples`/`--eval-samples` alias)."""
    parser.add_argument("--variants", "--methods", dest="variants", nargs="+", default=list(default_variants),
                        choices=list(VARIANTS), help="variants (methods) to train")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--max-steps", type=int, default=150, help="optimizer steps per run (SENT: both stages)")
    parser.add_argument("--logging-steps", type=int, default=5)
    parser.add_argument("--last-steps", type=int, default=30, help="steps averaged for the logged figures")
    parser.add_argument("--eval-problems", type=int, default=100)
    parser.add_argument("--eval-samples", "--num-samples", dest="eval_samples", type=int, default=64,
                        help="samples per problem (N of Acc@N, Maj@N, pass@k)")  # fmt: skip
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--runs-dir", default=os.path.join(ROOT, "outputs", runs_dir))
    parser.add_argument("--output", default=None, help="JSON file for the results (a .md table is written beside it)")


def _run_command(command: list[str], threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
    process = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{process.stderr[-4000:]}")


def evaluate(model: str, output_dir: str, args) -> dict[str, float]:
    """Acc@N, Maj@N and pass@k of `model` on the held-out split (`acc_at_N`, ...), reused if done the same way."""
    summary_path = os.path.join(output_dir, "summary.json")
    summary = None
    if os.path.isfile(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)
        if (summary["num_samples"], summary["num_problems"]) != (args.eval_samples, args.eval_problems):
            summary = None
    if summary is None:
        _run_command([
            sys.executable, "-m", "trl_entropy.cli", "eval", "--model", model, "--benchmark", BENCHMARK,
            "--num-samples", str(args.eval_samples), "--limit", str(args.eval_problems), "--temperature", "1.0",
            "--top-p", "1.0", "--seed", "0", "--output-dir", output_dir,
        ], args.threads)  # fmt: skip
        with open(summary_path) as f:
            summary = json.load(f)
    return {key.replace("@", "_at_"): value for key, value in summary["metrics"].items() if "@" in key}


def stage_dirs(variant: str, seed: int, runs_dir: str) -> list[str]:
    """Output directory of each of the variant's recipes for one seed, in training order."""
    return [
        os.path.join(runs_dir, f"{variant}-seed{seed}" + (f"-stage{index + 1}" if index else ""))
        for index in range(len(VARIANTS[variant]))
    ]


def train(variant: str, seed: int, args) -> tuple[list[str], float]:
    """Train the variant's recipes for one seed; the output directory of each, in order, and the minutes taken."""
    recipes = VARIANTS[variant]
    steps = max(1, args.max_steps // len(recipes))
    model, minutes, output_dirs = None, 0.0, stage_dirs(variant, seed, args.runs_dir)
    retrained = False  # a stage trained again retrains every later stage, which starts from it
    for recipe, output_dir in zip(recipes, output_dirs, strict=True):
        done = os.path.join(output_dir, "trl_entropy_run.json")
        record = None
        if os.path.isfile(done) and not retrained:
            with open(done) as f:
                record = json.load(f)
            if record.get("max_steps", steps) != steps:  # runs recorded before `max_steps` was kept count as equal
                record = None
        if record is None:
            retrained = True
            shutil.rmtree(os.path.join(output_dir, "eval"), ignore_errors=True)  # evaluations of the old weights
            start = time.perf_counter()
            _run_command([
                sys.executable, os.path.join(ROOT, "recipes", "train.py"), "--config", os.path.join(RECIPES, recipe),
                "--seed", str(seed), "--output_dir", output_dir, "--max_steps", str(steps), "--num_train_epochs", "1",
                "--task_eval_problems", "0", "--logging_steps", str(args.logging_steps), "--disable_tqdm", "true",
                *(["--model_name_or_path", model] if model else []),
            ], args.threads)  # fmt: skip
            record = {"minutes": (time.perf_counter() - start) / 60, "max_steps": steps}
            with open(done, "w") as f:
                json.dump(record, f)
        minutes += record["minutes"]
        model = output_dir
    return output_dirs, minutes


def training_log(output_dirs: Sequence[str]) -> list[dict]:
    """The logged training steps of every stage, in order, with the step numbers continued across stages."""
    history = []
    for stage_dir in output_dirs:
        with open(os.path.join(stage_dir, "trainer_state.json")) as f:
            offset = history[-1]["step"] if history else 0
            history += [{**e, "step": e["step"] + offset} for e in json.load(f)["log_history"] if "loss" in e]
    return history


def run(variant: str, seed: int, args) -> dict:
    """Train and evaluate one variant for one seed: its evaluation and the logged figures of its last steps."""
    output_dirs, minutes = train(variant, seed, args)
    last = training_log(output_dirs)[-args.last_steps // args.logging_steps :]

    def last_mean(key):
        values = [e[key] for e in last if isinstance(e.get(key), int | float) and e[key] == e[key]]
        return statistics.fmean(values) if values else None

    result = {"variant": variant, "seed": seed, "minutes": minutes}
    result.update(evaluate(output_dirs[-1], os.path.join(output_dirs[-1], "eval", BENCHMARK), args))
    result.update({name: last_mean(key) for key, name in LOGGED.items()})
    print(json.dumps(result), flush=True)
    return result


def run_all(args) -> dict:
    """Evaluate the starting policy and train and evaluate every variant for every seed, `args.jobs` at a time.

    Returns:
        `dict`: `settings`, `wall_minutes`, `base` (the starting policy's evaluation), `table` (per variant, mean and
        standard deviation over seeds of every figure) and `runs` (one result per variant and seed).
    """
    os.makedirs(args.runs_dir, exist_ok=True)
    start = time.perf_counter()
    jobs = [(variant, seed) for seed in args.seeds for variant in args.variants]
    with ThreadPoolExecutor(args.jobs) as pool:
        base = pool.submit(evaluate, BASE_POLICY, os.path.join(args.runs_dir, "base-eval"), args)
        results = list(pool.map(lambda job: run(*job, args), jobs))
        base = base.result()
    wall_minutes = (time.perf_counter() - start) / 60
    print(f"wall time {wall_minutes:.1f} min ({len(jobs)} runs, {args.jobs} at a time, {args.threads} thread(s) each)")
    table = summarize_variants(results, args.variants)
    return {"settings": vars(args), "wall_minutes": wall_minutes, "base": base, "table": table, "runs": results}


def markdown_table(table: dict, base: dict, columns: Sequence[tuple[str, str]]) -> str:
    """One row per variant, `mean ± std` over seeds of each column (`(header, key)`), the starting policy first."""
    lines = ["| variant | " + " | ".join(name for name, _ in columns) + " |", "| --- " * (len(columns) + 1) + "|"]
    base_cells = [f"{base[key]:.3f}" if key in base else "-" for _, key in columns]
    lines.append(f"| starting policy | {' | '.join(base_cells)} |")
    for variant, row in table.items():
        digits = {"minutes": 1}
        lines.append(f"| {variant} | " + " | ".join(cell(row, key, digits.get(key, 3)) for _, key in columns) + " |")
    return "\n".join(lines)


def write_report(report: dict, text: str, output: str | None) -> None:
    """Write the report as JSON to `output` and the Markdown `text` beside it (same name, `.md`)."""
    if output:
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        with open(output, "w") as f:
            json.dump(report, f, indent=2)
        with open(os.path.splitext(output)[0] + ".md", "w") as f:
            f.write(text + "\n")
