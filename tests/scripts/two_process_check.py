# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Run by tests/test_distributed.py under `accelerate launch --multi_gpu --num_processes 2` (gloo on the CPU).

1. Method metrics are exact means over both processes even when the processes count different numbers of items.
2. The main job's script trains a few steps of entropy-advantage GRPO on two processes and logs the method metrics.
"""

import json
import os
import sys

import torch


def check_metric_reduction(trainer) -> None:
    from trl_entropy.entropy_grpo_trainer import _LossPass

    rank = trainer.accelerator.process_index
    # rank 0 counts 1 item of value 1.0; rank 1 counts 3 items of value 5.0 each. Exact mean: (1 + 15) / 4 = 4.0
    # (the mean of the two per-process means would be 3.0).
    loss_pass = _LossPass(inputs={})
    trainer._loss_pass = loss_pass
    if rank == 0:
        trainer.log_metric("two_process_mean", 1.0, 1.0)
    else:
        trainer.log_metric("two_process_mean", 15.0, 3.0)
    trainer._loss_pass = None
    trainer.model.train()
    trainer._flush_method_metrics(loss_pass)
    value = trainer._metrics["train"]["entropy/two_process_mean"][-1]
    assert abs(value - 4.0) < 1e-6, value


def main(output_dir: str) -> None:
    from trl_entropy.scripts.train import main as train_main

    torch.set_num_threads(1)
    trainer = train_main(
        [
            "--config",
            "recipes/tiny/entropy_advantage.yaml",
            "--output_dir",
            output_dir,
            "--max_steps",
            "3",
            "--logging_steps",
            "1",
            "--per_device_train_batch_size",
            "32",
            "--task_eval_problems",
            "0",
            "--disable_tqdm",
            "true",
        ]
    )
    assert trainer.accelerator.num_processes == 2, f"expected 2 processes, got {trainer.accelerator.num_processes}"
    check_metric_reduction(trainer)
    if trainer.accelerator.is_main_process:
        with open(os.path.join(output_dir, "trainer_state.json")) as f:
            history = json.load(f)["log_history"]
        logged = [entry for entry in history if "entropy/advantage_psi_mean" in entry]
        assert len(logged) == 3, history
        assert trainer.args.world_size == 2
        print("TWO_PROCESS_CHECK_OK")


if __name__ == "__main__":
    main(sys.argv[1])
