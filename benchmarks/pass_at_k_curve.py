"""pass@k curve and sampled entropy of a tiny-policy checkpoint on held-out problems.

Samples `--num-samples` completions per test problem at temperature 1.0 and reports the unbiased pass@k for the
powers of two up to that many samples, with the mean per-token entropy of those samples
(`trl_entropy.tasks.build_policy.measure_pass_at_k`). Run it on the shipped policy and on a GRPO run's output with
the same arguments to see what RL did to pass@k at large k (on the same problems and seed):

```
python benchmarks/pass_at_k_curve.py --task countdown-steps --num-problems 200 --num-samples 64
python benchmarks/pass_at_k_curve.py --task countdown-steps --model outputs/tiny-countdown-steps-grpo \
    --num-problems 200 --num-samples 64 --output benchmarks/results/pass_at_k_steps_grpo.json
```

`--pass-at-1` instead runs `evaluate_pass_at_1` (pass@1 over `--num-samples` samples and greedy accuracy), which is
how the policy READMEs measure their accuracy table.
"""

import argparse
import json
import time
from pathlib import Path

from trl_entropy.tasks.build_policy import EVAL_SEED, TASKS, measure_pass_at_k, policy_task


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="countdown-steps", choices=sorted(TASKS))
    parser.add_argument("--model", default="default", help="Checkpoint directory, or 'default' for the shipped one.")
    parser.add_argument("--num-problems", type=int, default=200, help="Test problems, generate_problems(n, seed).")
    parser.add_argument("--num-samples", type=int, default=64, help="Samples per problem (n of the estimator).")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--max-new-tokens", type=int, default=None, help="Generation cap (default: the task's).")
    parser.add_argument("--seed", type=int, default=EVAL_SEED, help="Seed of the problem draw and of the sampling.")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads.")
    parser.add_argument("--pass-at-1", action="store_true", help="Run evaluate_pass_at_1 (the README table).")
    parser.add_argument("--output", default=None, help="Also write the result as JSON here.")
    args = parser.parse_args(argv)

    import torch

    from trl_entropy.tasks import evaluate_pass_at_1, load_tiny_policy

    torch.set_num_threads(args.threads)
    task = policy_task(args.task)
    path = task.output_dir if args.model == "default" else args.model
    model, tokenizer = load_tiny_policy(path=path)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    problems = task.generate_problems(args.num_problems, seed=args.seed, split="test")
    max_new_tokens = task.max_new_tokens if args.max_new_tokens is None else args.max_new_tokens
    start = time.perf_counter()
    if args.pass_at_1:
        figures = evaluate_pass_at_1(
            model,
            tokenizer,
            problems,
            num_samples=args.num_samples,
            temperature=args.temperature,
            max_new_tokens=max_new_tokens,
            seed=args.seed,
            score=task.score,
        )
    else:
        figures = measure_pass_at_k(
            model,
            tokenizer,
            problems,
            task.score,
            num_samples=args.num_samples,
            temperature=args.temperature,
            max_new_tokens=max_new_tokens,
            seed=args.seed,
        )
    result = {
        "task": task.name,
        "model": str(path),
        "split": "test",
        "seed": args.seed,
        "max_new_tokens": max_new_tokens,
        **figures,
        "seconds": round(time.perf_counter() - start, 1),
        "device": str(model.device),
    }
    print(json.dumps(result, indent=2))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
