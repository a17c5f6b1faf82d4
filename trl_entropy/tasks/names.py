# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Names and paths of the embedded task and policy; a module of its own so that importing it loads nothing else."""

from pathlib import Path


TINY_POLICY_PATH = str(Path(__file__).resolve().parent.parent / "policies" / "tiny_countdown")
# Names that recipes and model cards use for the embedded task and policy (they are not Hub repositories).
DATASET_NAME = "trl-entropy/countdown"
TINY_POLICY_NAME = "trl-entropy/tiny-countdown"

# The step-by-step variant (`trl_entropy.tasks.countdown_steps`) and its own tiny policy.
TINY_STEPS_POLICY_PATH = str(Path(__file__).resolve().parent.parent / "policies" / "tiny_countdown_steps")
STEPS_DATASET_NAME = "trl-entropy/countdown-steps"
TINY_STEPS_POLICY_NAME = "trl-entropy/tiny-countdown-steps"
