# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""PAEC's ablations and the choice of its unknown constants, measured on the embedded countdown task.

    python benchmarks/paec_ablation.py --seeds 42 43 44 --jobs 2 --output benchmarks/results/paec_ablation_cpu.json

Every variant is `recipes/tiny/paec.yaml` (or `recipes/tiny/grpo.yaml` for the baseline) with a few overrides, trained
with `recipes/train.py` for each seed in its own process; the table gives, over seeds, the mean and standard
deviation of held-out pass@1 and greedy accuracy after training and of the entropies over the last 50 steps.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from seed_table import cell, summarize_variants


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAEC = os.path.join(ROOT, "recipes", "tiny", "paec.yaml")
GRPO = os.path.join(ROOT, "recipes", "tiny", "grpo.yaml")

# name -> (recipe, overrides)
VARIANTS = {
    "grpo": (GRPO, []),
    "paec": (PAEC, []),
    "paec_no_mask": (PAEC, ["--paec_use_mask", "false"]),
    "paec_no_penalty": (PAEC, ["--paec_use_penalty", "false"]),
    "paec_rho_min_0.9": (PAEC, ["--paec_rho_min", "0.9"]),
    "paec_beta_10": (PAEC, ["--paec_beta", "10"]),
    "paec_top_p_0.8": (PAEC, ["--paec_top_p", "0.8"]),
    "paec_entropy_only": (PAEC, ["--paec_entropy_weight", "1.0"]),
    "paec_arithmetic": (PAEC, ["--paec_score_combination", "arithmetic"]),
}
LAST_STEPS = 50


def run(variant: str, seed: int, args) -> dict:
    recipe, overrides = VARIANTS[variant]
    output_dir = os.path.join(args.runs_dir, f"{variant}-seed{seed}")
    summary_path = os.path.join(output_dir, "task_eval.json")
    if not os.path.isfile(summary_path):  # finished runs are kept: the script can be restarted
        command = [
            sys.executable, os.path.join(ROOT, "recipes", "train.py"), "--config", recipe, *overrides,
            "--seed", str(seed), "--output_dir", output_dir, "--max_steps", str(args.max_steps),
            "--task_eval_problems", str(args.eval_problems), "--task_eval_samples", str(args.eval_samples),
            "--disable_tqdm", "true",
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "HF_HUB_OFFLINE": "1"}
        subprocess.run(command, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(summary_path) as f:
        task_eval = json.load(f)
    with open(os.path.join(output_dir, "trainer_state.json")) as f:
        history = json.load(f)["log_history"]
    last = [e for e in history if "entropy" in e and e["step"] > args.max_steps - LAST_STEPS]

    def last_mean(key):
        values = [e[key] for e in last if isinstance(e.get(key), float)]
        return statistics.fmean(values) if values else None

    result = {
        "variant": variant,
        "seed": seed,
        "pass_at_1_before": task_eval["pass_at_1_before"],
        "pass_at_1_after": task_eval["pass_at_1_after"],
        "greedy_after": task_eval["greedy_accuracy_after"],
        "entropy_last": last_mean("entropy"),
        "masked_entropy_last": last_mean("entropy/paec_masked_entropy"),
        "unmasked_entropy_last": last_mean("entropy/paec_unmasked_entropy"),
        "penalty_active_last": last_mean("entropy/paec_penalty_active"),
    }
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--max-steps", type=int, default=250)
    parser.add_argument("--eval-problems", type=int, default=500)
    parser.add_argument("--eval-samples", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--runs-dir", default=os.path.join(ROOT, "outputs", "paec_ablation"))
    parser.add_argument("--output", default=None, help="JSON file for the results")
    args = parser.parse_args()

    jobs = [(variant, seed) for seed in args.seeds for variant in args.variants]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda job: run(*job, args), jobs))

    table = summarize_variants(results, args.variants)
    print("| variant | pass@1 after | greedy after | entropy (last 50) | masked entropy | penalty active |")
    print("| --- | --- | --- | --- | --- | --- |")

    for variant, row in table.items():
        print(f"| {variant} | {cell(row, 'pass_at_1_after')} | {cell(row, 'greedy_after')} | "
              f"{cell(row, 'entropy_last')} | {cell(row, 'masked_entropy_last')} | "
              f"{cell(row, 'penalty_active_last', 2)} |")  # fmt: skip
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"settings": vars(args), "table": table, "runs": results}, f, indent=2)


if __name__ == "__main__":
    main()
