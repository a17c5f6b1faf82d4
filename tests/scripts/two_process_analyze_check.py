# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Run by tests/test_analysis_report.py under `torchrun --nproc_per_node 2` (gloo on the CPU): `trl-entropy analyze`
shares its chunks between the processes and the main process writes the same summary one process writes."""

import sys

import torch


def main(run_dir: str) -> None:
    from test_analysis_text import trigram_embed

    from trl_entropy.analysis.report import analyze

    torch.set_num_threads(1)
    analyze([run_dir], benchmark="countdown-steps", num_prompts=4, num_samples=4, batch_size=8, impact_positions=4,
            impact_k=4, embedder=trigram_embed, show_progress=False)  # fmt: skip
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
