# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""TRL's own entropy controls, named as the baselines the seed papers compare against.

TRL's `GRPOConfig` already implements four entropy-related baselines; trl-entropy adds no code for them (they run
through any trl-entropy trainer, `method: grpo` for the plain baseline) and only names them, so that a model card says
"GRPO + adaptive entropy control (Skywork-OR1)" rather than leaving the reader to spot `use_adaptive_entropy: true`
among the GRPO settings, and cites the control's paper:

| control | TRL settings | paper |
| --- | --- | --- |
| global entropy regularisation | `entropy_coef > 0` | the entropy bonus of A3C (arXiv 1602.01783) |
| adaptive entropy control | `use_adaptive_entropy: true` | Skywork-OR1 (arXiv 2505.22312) |
| high-entropy token mask (80/20) | `top_entropy_quantile < 1` | Beyond the 80/20 Rule (arXiv 2506.01939) |
| CISPO | `loss_type: cispo` | MiniMax-M1 (arXiv 2506.13585) |
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EntropyControl:
    """One of TRL's entropy controls: its name, when a config turns it on, its settings and its paper."""

    name: str
    is_active: Callable[[Any], bool]
    fields: tuple[str, ...]
    paper: dict[str, str]


# docstyle-ignore
A3C_PAPER = {
    "title": "Asynchronous Methods for Deep Reinforcement Learning",
    "id": "1602.01783",
    "citation": """@inproceedings{mnih2016asynchronous,
    title        = {{Asynchronous Methods for Deep Reinforcement Learning}},
    author       = {Volodymyr Mnih and Adri{\\`a} Puigdom{\\`e}nech Badia and Mehdi Mirza and Alex Graves and Timothy Lillicrap and Tim Harley and David Silver and Koray Kavukcuoglu},
    year         = 2016,
    booktitle    = {International Conference on Machine Learning},
    eprint       = {arXiv:1602.01783}
}""",
}
# docstyle-ignore
SKYWORK_OR1_PAPER = {
    "title": "Skywork Open Reasoner 1 Technical Report",
    "id": "2505.22312",
    "citation": """@article{he2025skywork,
    title        = {{Skywork Open Reasoner 1 Technical Report}},
    author       = {Jujie He and others},
    year         = 2025,
    eprint       = {arXiv:2505.22312}
}""",
}
# docstyle-ignore
HIGH_ENTROPY_MINORITY_PAPER = {
    "title": "Beyond the 80/20 Rule: High-Entropy Minority Tokens Drive Effective Reinforcement Learning for LLM "
    "Reasoning",
    "id": "2506.01939",
    "citation": """@article{wang2025beyond,
    title        = {{Beyond the 80/20 Rule: High-Entropy Minority Tokens Drive Effective Reinforcement Learning for LLM Reasoning}},
    author       = {Shenzhi Wang and others},
    year         = 2025,
    eprint       = {arXiv:2506.01939}
}""",
}
# docstyle-ignore
MINIMAX_M1_PAPER = {
    "title": "MiniMax-M1: Scaling Test-Time Compute Efficiently with Lightning Attention",
    "id": "2506.13585",
    "citation": """@article{minimax2025m1,
    title        = {{MiniMax-M1: Scaling Test-Time Compute Efficiently with Lightning Attention}},
    author       = {{MiniMax}},
    year         = 2025,
    eprint       = {arXiv:2506.13585}
}""",
}

ENTROPY_CONTROLS = (
    EntropyControl(
        "global entropy regularisation",
        lambda args: getattr(args, "entropy_coef", 0.0) > 0 and not getattr(args, "use_adaptive_entropy", False),
        ("entropy_coef",),
        A3C_PAPER,
    ),
    EntropyControl(
        "adaptive entropy control (Skywork-OR1)",
        lambda args: bool(getattr(args, "use_adaptive_entropy", False)),
        ("entropy_coef", "entropy_target", "entropy_coef_delta", "entropy_coef_min", "entropy_coef_max"),
        SKYWORK_OR1_PAPER,
    ),
    EntropyControl(
        "high-entropy token mask (80/20)",
        lambda args: getattr(args, "top_entropy_quantile", 1.0) < 1.0,
        ("top_entropy_quantile",),
        HIGH_ENTROPY_MINORITY_PAPER,
    ),
    EntropyControl(
        "CISPO",
        lambda args: getattr(args, "loss_type", None) == "cispo",
        ("loss_type", "epsilon_high"),
        MINIMAX_M1_PAPER,
    ),
)


def active_entropy_controls(args: Any) -> list[EntropyControl]:
    """
    TRL's entropy controls that a training config turns on, in the order of [`ENTROPY_CONTROLS`].

    Args:
        args (`trl.GRPOConfig` or any object with its fields):
            Training arguments; a missing field counts as TRL's default (off).

    Returns:
        `list[EntropyControl]`: The active controls (empty for plain GRPO).
    """
    return [control for control in ENTROPY_CONTROLS if control.is_active(args)]
