# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Plain GRPO and every method on the step-by-step countdown task, where every position is labelled exactly.

    python benchmarks/countdown_steps_methods.py --seeds 42 43 44 --jobs 2 \
        --output benchmarks/results/countdown_steps_methods_cpu.json

Every variant is a recipe of `recipes/tiny_steps/` trained with `recipes/train.py` for each seed in its own process
(SENT: its two stages one after the other, each for half the steps, so that it trains as many steps as the others),
then evaluated with `trl-entropy eval --benchmark countdown-steps` at temperature 1.0, top-p 1.0 (pass@1, pass@16,
pass@64 from 64 samples per problem). The starting policy is evaluated the same way once. From the training log, the
position metrics (`task/`, `trl_entropy.position_metrics`) averaged over the last `--last-steps` logged steps:
entropy at decision and at forced positions, the decision share, PAEC's mask precision and recall, the entropy
advantage's bonus at decision and at forced positions, the share of SENT's constrained tokens that are forced.

Finished runs and evaluations are kept, so the script can be restarted; `--max-steps` and `--eval-problems` make a
short run for a test.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from seed_table import cell, summarize_variants


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = os.path.join(ROOT, "recipes", "tiny_steps")
BASE_POLICY = "trl-entropy/tiny-countdown-steps"
BENCHMARK = "countdown-steps"

# name -> recipes trained one after the other (each later one starts from the previous output)
VARIANTS = {
    "grpo": ["grpo.yaml"],
    "entropy_advantage": ["entropy_advantage.yaml"],
    "ppl": ["ppl.yaml"],
    "position": ["position.yaml"],
    "paec": ["paec.yaml"],
    "sent": ["sent_stage1.yaml", "sent_stage2.yaml"],
    "ppo": ["ppo.yaml"],
    "entropy_advantage_ppo": ["entropy_advantage_ppo.yaml"],
}
# log key -> result key, averaged over the last logged steps
LOGGED = {
    "entropy": "entropy",
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
TABLE_COLUMNS = (
    ("pass@1", "pass_at_1"),
    ("pass@16", "pass_at_16"),
    ("pass@64", "pass_at_64"),
    ("H decision", "entropy_decision"),
    ("H forced", "entropy_forced"),
    ("PAEC precision", "paec_precision"),
    ("PAEC recall", "paec_recall"),
    ("minutes", "minutes"),
)


def _environment(threads: int) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}


def evaluate(model: str, output_dir: str, args) -> dict:
    """pass@k of `model` on the held-out split, from `args.eval_samples` samples per problem (resumed if done)."""
    summary_path = os.path.join(output_dir, "summary.json")
    if not os.path.isfile(summary_path):
        command = [
            sys.executable, "-m", "trl_entropy.cli", "eval", "--model", model, "--benchmark", BENCHMARK,
            "--num-samples", str(args.eval_samples), "--limit", str(args.eval_problems), "--temperature", "1.0",
            "--top-p", "1.0", "--seed", "0", "--output-dir", output_dir,
        ]  # fmt: skip
        subprocess.run(command, check=True, env=_environment(args.threads), cwd=ROOT, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)  # fmt: skip
    with open(summary_path) as f:
        metrics = json.load(f)["metrics"]
    return {key.replace("@", "_at_"): value for key, value in metrics.items() if key.startswith("pass@")}


def train(variant: str, seed: int, args) -> tuple[list[str], float]:
    """Train the variant's recipes for one seed; the output directory of each, in order, and the minutes taken."""
    recipes = VARIANTS[variant]
    steps = max(1, args.max_steps // len(recipes))
    model, minutes, output_dirs = None, 0.0, []
    for index, recipe in enumerate(recipes):
        output_dir = os.path.join(args.runs_dir, f"{variant}-seed{seed}" + (f"-stage{index + 1}" if index else ""))
        done = os.path.join(output_dir, "trl_entropy_run.json")
        if not os.path.isfile(done):
            start = time.perf_counter()
            command = [
                sys.executable, os.path.join(ROOT, "recipes", "train.py"), "--config", os.path.join(RECIPES, recipe),
                "--seed", str(seed), "--output_dir", output_dir, "--max_steps", str(steps), "--num_train_epochs", "1",
                "--task_eval_problems", "0", "--logging_steps", str(args.logging_steps), "--disable_tqdm", "true",
                *(["--model_name_or_path", model] if model else []),
            ]  # fmt: skip
            subprocess.run(command, check=True, env=_environment(args.threads), cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)  # fmt: skip
            with open(done, "w") as f:
                json.dump({"minutes": (time.perf_counter() - start) / 60}, f)
        with open(done) as f:
            minutes += json.load(f)["minutes"]
        model = output_dir
        output_dirs.append(output_dir)
    return output_dirs, minutes


def run(variant: str, seed: int, args) -> dict:
    output_dirs, minutes = train(variant, seed, args)
    output_dir = output_dirs[-1]
    history = []
    for stage_dir in output_dirs:  # every stage's log, in order, with the step numbers continued
        with open(os.path.join(stage_dir, "trainer_state.json")) as f:
            offset = history[-1]["step"] if history else 0
            history += [{**e, "step": e["step"] + offset} for e in json.load(f)["log_history"] if "loss" in e]
    last = history[-args.last_steps // args.logging_steps :]

    def last_mean(key):
        values = [e[key] for e in last if isinstance(e.get(key), int | float) and e[key] == e[key]]
        return statistics.fmean(values) if values else None

    result = {"variant": variant, "seed": seed, "minutes": minutes}
    result.update(evaluate(output_dir, os.path.join(output_dir, "eval", BENCHMARK), args))
    result.update({name: last_mean(key) for key, name in LOGGED.items()})
    print(json.dumps(result), flush=True)
    return result


def markdown_table(table: dict, base: dict) -> str:
    lines = ["| variant | " + " | ".join(name for name, _ in TABLE_COLUMNS) + " |"]
    lines.append("| --- " * (len(TABLE_COLUMNS) + 1) + "|")
    base_cells = [f"{base[key]:.3f}" if key in base else "-" for _, key in TABLE_COLUMNS]
    lines.append(f"| starting policy | {' | '.join(base_cells)} |")
    for variant, row in table.items():
        digits = {"minutes": 1}
        lines.append(
            f"| {variant} | " + " | ".join(cell(row, key, digits.get(key, 3)) for _, key in TABLE_COLUMNS) + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--max-steps", type=int, default=150, help="optimizer steps per run (SENT: both stages)")
    parser.add_argument("--logging-steps", type=int, default=5)
    parser.add_argument("--last-steps", type=int, default=30, help="steps averaged for the logged figures")
    parser.add_argument("--eval-problems", type=int, default=100)
    parser.add_argument("--eval-samples", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--runs-dir", default=os.path.join(ROOT, "outputs", "countdown_steps_methods"))
    parser.add_argument("--output", default=None, help="JSON file for the results (a .md table is written beside it)")
    args = parser.parse_args(argv)
    os.makedirs(args.runs_dir, exist_ok=True)

    start = time.perf_counter()
    base = evaluate(BASE_POLICY, os.path.join(args.runs_dir, "base-eval"), args)
    jobs = [(variant, seed) for seed in args.seeds for variant in args.variants]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda job: run(*job, args), jobs))
    wall_minutes = (time.perf_counter() - start) / 60

    table = summarize_variants(results, args.variants)
    text = markdown_table(table, base)
    print(text)
    print(f"wall time {wall_minutes:.1f} min ({len(jobs)} runs, {args.jobs} at a time, {args.threads} thread(s) each)")
    report = {"settings": vars(args), "wall_minutes": wall_minutes, "base": base, "table": table, "runs": results}
    if args.output:
        with open(args.output, "w") as f:
            json.dump(report, f, indent=2)
        with open(os.path.splitext(args.output)[0] + ".md", "w") as f:
            f.write(text + "\n")
    return report


if __name__ == "__main__":
    main()
