# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Throughput of SENT's semantic-entropy scoring against bare generation with the same sampler, in the same run.

    python benchmarks/sent_scoring.py                                    # tiny countdown policy, 512 prompts, N = 8
    python benchmarks/sent_scoring.py --model PATH --num-prompts 128 --max-new-tokens 256 --batch-size 32

Both arms use the same loaded model, prompts, N, temperature, top-p, length cap and batch size:

- `bare`: [`generate_hf`] called on the scorer's chunks (`batch_size // N` prompts each, the same per-chunk seeds),
  nothing else: no answer extraction, no clustering, no files.
- `scoring`: [`score_semantic_entropy`] with a fresh cache directory every round, so that it samples every prompt:
  fingerprints of the model and the dataset, generation, answer extraction, clustering, the part file written after
  every chunk and the final `scores.jsonl`.

The arms alternate for `--repeats` rounds, the order rotating every round, after one untimed warm-up round of each.
Reported: prompts per second of each arm from its median round time (robust to a round slowed by other work on the
machine), their ratio scoring / bare (target >= 0.9), and the same from the total time of all rounds.
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="trl-entropy/tiny-countdown", help="Checkpoint directory or model id.")
    parser.add_argument("--num-prompts", type=int, default=512, help="Countdown train prompts scored.")
    parser.add_argument("--num-samples", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--max-new-tokens", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice).")
    parser.add_argument("--output", default="benchmarks/results/sent_scoring_cpu.json")
    args = parser.parse_args()

    import torch

    from trl_entropy.eval.evaluator import _load_hf, chunk_seed, generate_hf, resolve_model_name
    from trl_entropy.sent.scoring import score_semantic_entropy
    from trl_entropy.tasks import build_dataset

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    model, tokenizer = _load_hf(resolve_model_name(args.model), "auto")
    dataset = build_dataset(split="train", n=args.num_prompts, seed=args.seed)
    prompts = dataset["prompt"][:]
    per_chunk = max(1, args.batch_size // args.num_samples)
    sampling = (args.num_samples, args.temperature, args.top_p, args.max_new_tokens)

    def bare() -> None:
        # Plain-text prompts keep the tokenizer's special tokens, as the scorer tokenizes them.
        for index, start in enumerate(range(0, len(prompts), per_chunk)):
            generate_hf(
                model, tokenizer, prompts[start : start + per_chunk], *sampling, True, chunk_seed(args.seed, index)
            )

    def scoring() -> None:
        with tempfile.TemporaryDirectory() as cache_dir:
            result = score_semantic_entropy(
                dataset,
                model,
                tokenizer=tokenizer,
                num_samples=args.num_samples,
                temperature=args.temperature,
                top_p=args.top_p,
                max_new_tokens=args.max_new_tokens,
                batch_size=args.batch_size,
                seed=args.seed,
                cache_dir=cache_dir,
                show_progress=False,
            )
            assert result.num_generated == len(prompts)

    arms = {"bare": bare, "scoring": scoring}
    for run in arms.values():  # warm-up
        run()
    times: dict[str, list[float]] = {name: [] for name in arms}
    names = list(arms)
    for round_index in range(args.repeats):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for name in order:
            start = time.perf_counter()
            arms[name]()
            times[name].append(time.perf_counter() - start)
            print(f"round {round_index + 1} {name}: {times[name][-1]:.2f} s")

    throughput = {name: len(prompts) / statistics.median(ts) for name, ts in times.items()}
    overall = {name: len(prompts) * len(ts) / sum(ts) for name, ts in times.items()}
    summary = {
        "device": f"cuda: {torch.cuda.get_device_name(0)}"
        if torch.cuda.is_available()
        else f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
        "settings": {key: value for key, value in vars(args).items() if key != "output"},
        "bare_prompts_per_s": throughput["bare"],
        "scoring_prompts_per_s": throughput["scoring"],
        "throughput_ratio": throughput["scoring"] / throughput["bare"],
        "total_time_throughput_ratio": overall["scoring"] / overall["bare"],
        "median_round_time_s": {name: statistics.median(ts) for name, ts in times.items()},
        "round_times_s": times,
    }
    print(f"bare {throughput['bare']:.1f} prompts/s, scoring {throughput['scoring']:.1f} prompts/s, "
          f"ratio scoring / bare {summary['throughput_ratio']:.3f} (medians; "
          f"{summary['total_time_throughput_ratio']:.3f} from total times)")  # fmt: skip
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
