# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""SENT on the embedded countdown task: the semantic-entropy curriculum against random order, over seeds.

    python benchmarks/sent_curriculum.py --seeds 42 43 44 --jobs 2 --output benchmarks/results/sent_curriculum_cpu.json

Every variant is `recipes/tiny/grpo.yaml` with overrides, trained with `recipes/train.py` in its own process from the
shipped tiny policy, for the same number of optimizer steps (164: one pass over the 2649 training problems, 32
prompts x 8 completions per generation, two optimizer steps of 16 prompts on each generation, the second one
off-policy as SENT's token KL needs):

- `grpo_random`, `sent_random`: TRL's shuffled order, without and with SENT's token KL;
- `sent_ascending`: strictly ascending semantic entropy, one run;
- `grpo_two_stage`, `sent_two_stage`: the authors' protocol, stage 1 (the lower half, shuffled inside, 82 steps)
  and then stage 2 (the upper half, 82 steps) from the stage-1 checkpoint.

The scores come from the starting policy (8 answers per prompt, temperature 1.0, clustered by value), cached once per
seed (the training set's order, and so its fingerprint, depends on the seed). The table gives, over seeds, the mean
and standard deviation of held-out pass@1 (500 problems x 8 samples at temperature 1.0) and greedy accuracy after
training, and the policy's token entropy over the last 20 steps.
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
GRPO = os.path.join(ROOT, "recipes", "tiny", "grpo.yaml")
STEPS = 164
STAGE_STEPS = STEPS // 2
LAST_STEPS = 20
COMMON = ["--steps_per_generation", "2"]
CURRICULUM = ["--shuffle_dataset", "false"]
SENT = ["--method", "sent"]
TWO_STAGES = [*CURRICULUM, "--curriculum_order", "stages", "--curriculum_num_stages", "2"]

# name -> list of stages, each a list of overrides (a stage after the first starts from the previous checkpoint)
VARIANTS = {
    "grpo_random": [[]],
    "sent_random": [SENT],
    "sent_ascending": [[*SENT, *CURRICULUM, "--curriculum_order", "ascending"]],
    "grpo_two_stage": [[*TWO_STAGES, "--curriculum_stage", "1"], [*TWO_STAGES, "--curriculum_stage", "2"]],
    "sent_two_stage": [
        [*SENT, *TWO_STAGES, "--curriculum_stage", "1"],
        [*SENT, *TWO_STAGES, "--curriculum_stage", "2"],
    ],
}


def run(variant: str, seed: int, args) -> dict:
    stages = VARIANTS[variant]
    steps = STEPS // len(stages)
    histories, evals, model = [], [], "trl-entropy/tiny-countdown"
    for index, overrides in enumerate(stages):
        output_dir = os.path.join(args.runs_dir, f"{variant}-seed{seed}" + (f"-stage{index + 1}" if index else ""))
        summary_path = os.path.join(output_dir, "task_eval.json")
        if not os.path.isfile(summary_path):  # finished runs are kept: the script can be restarted
            command = [
                sys.executable, os.path.join(ROOT, "recipes", "train.py"), "--config", GRPO, *COMMON, *overrides,
                "--model_name_or_path", model, "--curriculum_scoring_model", "trl-entropy/tiny-countdown",
                "--curriculum_cache_dir", args.cache_dir, "--seed", str(seed), "--output_dir", output_dir,
                "--max_steps", str(steps), "--logging_steps", "2", "--task_eval_problems", str(args.eval_problems),
                "--task_eval_samples", str(args.eval_samples), "--disable_tqdm", "true",
            ]  # fmt: skip
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "HF_HUB_OFFLINE": "1"}
            subprocess.run(command, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with open(summary_path) as f:
            evals.append(json.load(f))
        with open(os.path.join(output_dir, "trainer_state.json")) as f:
            histories.append([e for e in json.load(f)["log_history"] if "entropy" in e])
        model = output_dir
    last = [e for e in histories[-1] if e["step"] > steps - LAST_STEPS]

    def mean(entries, key):
        values = [e[key] for e in entries if isinstance(e.get(key), float)]
        return statistics.fmean(values) if values else None

    result = {
        "variant": variant,
        "seed": seed,
        "pass_at_1_before": evals[0]["pass_at_1_before"],
        "pass_at_1_after": evals[-1]["pass_at_1_after"],
        "greedy_after": evals[-1]["greedy_accuracy_after"],
        "pass_at_1_after_stage_1": evals[0]["pass_at_1_after"] if len(evals) > 1 else None,
        "entropy_last": mean(last, "entropy"),
        "reward_mean": statistics.fmean(
            v for history in histories for v in (e.get("reward") for e in history) if isinstance(v, float)
        ),
        "batch_semantic_entropy_by_stage": [mean(h, "entropy/curriculum_semantic_entropy") for h in histories],
        "kl_penalty_mean": mean([e for h in histories for e in h], "entropy/sent_kl_penalty"),
    }
    print(json.dumps(result), flush=True)
    return result


def score_distributions(seeds, args) -> dict:
    """The score distribution of each seed's training set, read from the cache the runs filled."""
    from trl_entropy.sent.scoring import format_score_distribution, score_distribution, score_semantic_entropy
    from trl_entropy.tasks import build_dataset

    distributions = {}
    for seed in seeds:
        # The same call as the recipe script's, so that the cache answers it.
        scores = score_semantic_entropy(
            build_dataset(split="train", seed=seed),
            "trl-entropy/tiny-countdown",
            num_samples=8,
            temperature=1.0,
            max_new_tokens=12,
            batch_size=64,
            seed=seed,
            cache_dir=args.cache_dir,
            dtype="float32",
            show_progress=False,
        ).scores
        distributions[seed] = score_distribution(scores)
        print(f"seed {seed}: {format_score_distribution(distributions[seed])}")
    return distributions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--eval-problems", type=int, default=500)
    parser.add_argument("--eval-samples", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--runs-dir", default=os.path.join(ROOT, "outputs", "sent_curriculum"))
    parser.add_argument("--cache-dir", default=os.path.join(ROOT, "outputs", "sent_curriculum", "cache"))
    parser.add_argument("--output", default=None, help="JSON file for the results")
    args = parser.parse_args()

    # Score each seed's training set once, before the runs that share it start in parallel.
    distributions = score_distributions(args.seeds, args)
    jobs = [(variant, seed) for seed in args.seeds for variant in args.variants]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda job: run(*job, args), jobs))

    table = summarize_variants(results, args.variants)
    print("| variant | pass@1 after | greedy after | pass@1 after stage 1 | entropy (last 20) | mean reward |")
    print("| --- | --- | --- | --- | --- | --- |")

    for variant, row in table.items():
        print(f"| {variant} | {cell(row, 'pass_at_1_after')} | {cell(row, 'greedy_after')} | "
              f"{cell(row, 'pass_at_1_after_stage_1')} | {cell(row, 'entropy_last')} | "
              f"{cell(row, 'reward_mean')} |")  # fmt: skip
    if args.output:
        with open(args.output, "w") as f:
            json.dump(
                {"settings": vars(args), "score_distributions": distributions, "table": table, "runs": results},
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
