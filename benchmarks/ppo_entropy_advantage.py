# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""PPO against PPO + entropy-based advantage shaping on the embedded countdown task, over seeds.

    python benchmarks/ppo_entropy_advantage.py --seeds 42 43 44 --jobs 2 \\
        --output benchmarks/results/ppo_entropy_advantage_cpu.json

Each variant is its tiny recipe (`recipes/tiny/ppo.yaml`, `recipes/tiny/entropy_advantage_ppo.yaml`: 250 optimizer
steps of 128 prompts x 1 completion, a 20-step critic warm-up), trained with `recipes/train.py` for each seed in its
own process, then evaluated with `trl-entropy eval` on all 671 held-out problems with N samples each (temperature
0.6, top-p 0.95, the evaluator's defaults): Acc@N, Maj@N and unbiased Pass@k for k = 1, 2, 4, ... N. The starting
policy is evaluated once, the same way. The table gives the mean and standard deviation over seeds.
"""

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from seed_table import cell, summarize_variants


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARIANTS = {
    "ppo": os.path.join(ROOT, "recipes", "tiny", "ppo.yaml"),
    "entropy_advantage_ppo": os.path.join(ROOT, "recipes", "tiny", "entropy_advantage_ppo.yaml"),
}


def evaluate(model: str, output_dir: str, args) -> dict:
    summary_path = os.path.join(output_dir, "summary.json")
    if not os.path.isfile(summary_path):
        command = [
            sys.executable, "-m", "trl_entropy.cli", "eval", "--model", model, "--benchmark", "countdown",
            "--num-samples", str(args.num_samples), "--batch-size", "256", "--output-dir", output_dir,
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "HF_HUB_OFFLINE": "1"}
        subprocess.run(command, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(summary_path) as f:
        return json.load(f)["metrics"]


def run(variant: str, seed: int, args) -> dict:
    output_dir = os.path.join(args.runs_dir, f"{variant}-seed{seed}")
    if not os.path.isfile(os.path.join(output_dir, "trainer_state.json")):  # finished runs are kept
        command = [
            sys.executable, os.path.join(ROOT, "recipes", "train.py"), "--config", VARIANTS[variant],
            "--seed", str(seed), "--output_dir", output_dir, "--task_eval_problems", "0", "--disable_tqdm", "true",
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "HF_HUB_OFFLINE": "1"}
        subprocess.run(command, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(os.path.join(output_dir, "trainer_state.json")) as f:
        history = json.load(f)["log_history"]
    logged = [e for e in history if "ppo/value_loss" in e]
    last = logged[-5:]
    metrics = evaluate(output_dir, os.path.join(output_dir, "eval", "countdown"), args)
    result = {
        "variant": variant,
        "seed": seed,
        **metrics,
        "entropy_last": sum(e["entropy"] for e in last) / len(last),
        "explained_variance_last": sum(e["ppo/explained_variance"] for e in last) / len(last),
        "reward_last": sum(e["reward"] for e in last) / len(last),
    }
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--num-samples", type=int, default=64, help="samples per held-out problem (N)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--runs-dir", default=os.path.join(ROOT, "outputs", "ppo_entropy_advantage"))
    parser.add_argument("--output", default=None, help="JSON file for the results")
    args = parser.parse_args()

    base = evaluate("trl-entropy/tiny-countdown", os.path.join(args.runs_dir, "base-eval"), args)
    print(json.dumps({"variant": "base", **base}), flush=True)
    jobs = [(variant, seed) for seed in args.seeds for variant in args.variants]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda job: run(*job, args), jobs))

    table = summarize_variants(results, args.variants)
    ks = [key for key in base if key.startswith("pass@")]
    columns = [f"acc@{args.num_samples}", f"maj@{args.num_samples}", *ks]
    print("| policy | " + " | ".join(columns) + " | entropy (last 5 logs) | explained variance |")
    print("| --- | " + " | ".join("---" for _ in columns) + " | --- | --- |")
    print("| base | " + " | ".join(f"{base[c]:.3f}" for c in columns) + " | - | - |")
    for variant, row in table.items():
        cells = " | ".join(cell(row, c) for c in columns)
        print(f"| {variant} | {cells} | {cell(row, 'entropy_last')} | {cell(row, 'explained_variance_last')} |")
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"settings": vars(args), "base": base, "table": table, "runs": results}, f, indent=2)


if __name__ == "__main__":
    main()
