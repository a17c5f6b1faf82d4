# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Checks of a run's batch layout that several methods share (a leaf module)."""

from typing import Any


def is_fully_on_policy(args: Any) -> bool:
    """Whether TRL trains on every generated batch with the policy that sampled it (then it computes no
    `old_per_token_logps`, and `log p_old = log p`): one iteration, and generation aligned with the optimizer steps
    (`gradient_accumulation_steps` a multiple of `steps_per_generation * num_iterations`, TRL 1.16's own test)."""
    return args.gradient_accumulation_steps % (args.steps_per_generation * args.num_iterations) == 0


def on_policy_refusal(args: Any, term: str) -> str:
    """The start of the error that refuses a `|log p - log p_old|` term (named `term`) under settings where every
    update is on-policy ([`is_fully_on_policy`]): why it would do nothing, and the two ways to make it act."""
    return (
        f"{term} is |log p - log p_old|, and these settings make every update on-policy "
        f"(num_iterations={args.num_iterations}, steps_per_generation={args.steps_per_generation}, "
        f"gradient_accumulation_steps={args.gradient_accumulation_steps}): p_old = p, so the penalty is 0 with no "
        "gradient and would do nothing. Make it act with `num_iterations > 1` or `steps_per_generation` > "
        "`gradient_accumulation_steps`"
    )
