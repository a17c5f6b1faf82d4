# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Run by tests/test_sent_scoring.py under `torchrun --nproc_per_node 2` (gloo on the CPU).

Scores 16 countdown prompts with the tiny policy on two processes (4 chunks: 2 per process), then again (read from
the cache), and writes what each process got to `OUTPUT_DIR/rank-<rank>.json` for the test to compare with a
one-process run.
"""

import json
import os
import sys

import torch


def main(output_dir: str) -> None:
    from trl_entropy.sampling import backends
    from trl_entropy.sent.scoring import score_semantic_entropy
    from trl_entropy.tasks import build_dataset

    torch.set_num_threads(1)
    generated = []
    original = backends.generate_hf

    def counting(model, tokenizer, prompts, *args):
        generated.append(len(prompts))
        return original(model, tokenizer, prompts, *args)

    backends.generate_hf = counting
    dataset = build_dataset(split="train", n=16, seed=0)
    kwargs = dict(num_samples=4, batch_size=16, cache_dir=os.path.join(output_dir, "cache"), show_progress=False)
    first = score_semantic_entropy(dataset, "trl-entropy/tiny-countdown", **kwargs)
    generated_first = list(generated)
    second = score_semantic_entropy(dataset, "trl-entropy/tiny-countdown", **kwargs)
    rank, world_size = torch.distributed.get_rank(), torch.distributed.get_world_size()
    result = {
        "world_size": world_size,
        "scores": first.scores,
        "records": first.records,
        "num_generated": first.num_generated,
        "generated_prompts": generated_first,
        "cached_records_equal": second.records == first.records,
        "cached_num_generated": second.num_generated,
        "generated_prompts_after_cache": generated[len(generated_first) :],
        "cache_files": sorted(os.listdir(first.cache_path)),
    }
    with open(os.path.join(output_dir, f"rank-{rank}.json"), "w") as f:
        json.dump(result, f)
    # Tear the gloo group down before the interpreter exits: left to process exit, its threads can be destroyed while
    # still joinable, and the process aborts after a passing run.
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
