# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

from dataclasses import dataclass, field

from trl import GRPOConfig

from ..distributed import check_step_scope_layout
from .functional import check_clip_cov_params, check_kl_cov_params


# Where the covariance is centred and the tokens are selected. `per_micro_batch`: the tokens of one micro-batch of one
# process (the authors' code, whose results the paper reports; the default). `global`: every token of the optimizer
# step on every process (the paper's description), at the cost of one extra forward without gradient per micro-batch.
COVARIANCE_SCOPES = ("per_micro_batch", "global")


def check_scope(scope: str, field_name: str) -> None:
    """Raise a `ValueError` naming the field if `scope` is not one of `COVARIANCE_SCOPES`."""
    if scope not in COVARIANCE_SCOPES:
        raise ValueError(f"`{field_name}` must be one of {COVARIANCE_SCOPES}, got {scope!r}.")


def check_global_scope_layout(args, field_name: str) -> None:
    """The `global` scope selects over the micro-batches of one optimizer step, which must lie in one generation batch."""
    check_step_scope_layout(args, field_name, "global", "per_micro_batch")


SCOPE_HELP = (
    "Selection set: per_micro_batch (the tokens of one micro-batch of one process, as the authors' code does; the "
    "default) or global (every token of the optimizer step on every process, as the paper describes; one extra "
    "forward without gradient per micro-batch)."
)


@dataclass
class ClipCovGRPOConfig(GRPOConfig):
    r"""
    Configuration class for [`ClipCovGRPOTrainer`]: Clip-Cov ([arXiv 2505.22617](https://huggingface.co/papers/2505.22617),
    Cui et al.). Defaults are the authors' (verl's defaults and the 7B recipe agree). The recipe also widens PPO's clip
    range to `epsilon = epsilon_high = 1` (a `GRPOConfig` field, left at TRL's default here; see
    `recipes/tiny/clip_cov.yaml`).

    Parameters:
        clip_cov_ratio (`float`, *optional*, defaults to `0.0002`):
            Share of **all** valid tokens (at least one) that lose their policy gradient, drawn among the tokens in the
            covariance band; `(0, 1]`.
        clip_cov_lb (`float`, *optional*, defaults to `1.0`):
            Lower bound of the covariance band (strict); finite.
        clip_cov_ub (`float`, *optional*, defaults to `5.0`):
            Upper bound of the covariance band (strict); finite, `> clip_cov_lb`.
        clip_cov_exclude_clipped (`bool`, *optional*, defaults to `True`):
            Leave out of the candidates the tokens whose token-level PPO ratio is already clipped (`A > 0` and
            `r > 1 + epsilon_high`, or `A < 0` and `r < 1 - epsilon`), as the authors' code does.
        clip_cov_scope (`str`, *optional*, defaults to `"per_micro_batch"`):
            Selection set: `"per_micro_batch"` (the authors' code) or `"global"` (the optimizer step over all
            processes, the paper's description; one extra forward without gradient per micro-batch).
    """

    clip_cov_ratio: float = field(
        default=0.0002,
        metadata={"help": "Share of all valid tokens (>= 1) drawn from the covariance band to lose their gradient."},
    )
    clip_cov_lb: float = field(default=1.0, metadata={"help": "Lower bound of the covariance band (strict)."})
    clip_cov_ub: float = field(
        default=5.0, metadata={"help": "Upper bound of the covariance band (strict); > clip_cov_lb."}
    )
    clip_cov_exclude_clipped: bool = field(
        default=True,
        metadata={"help": "Leave tokens whose PPO ratio is already clipped out of the candidates (authors' code)."},
    )
    clip_cov_scope: str = field(
        default="per_micro_batch", metadata={"help": SCOPE_HELP, "choices": list(COVARIANCE_SCOPES)}
    )

    def __post_init__(self):
        check_clip_cov_params(self.clip_cov_ratio, self.clip_cov_lb, self.clip_cov_ub, prefix="clip_cov_")
        check_scope(self.clip_cov_scope, "clip_cov_scope")
        super().__post_init__()
        if self.clip_cov_scope == "global":
            check_global_scope_layout(self, "clip_cov_scope")


@dataclass
class KLCovGRPOConfig(GRPOConfig):
    r"""
    Configuration class for [`KLCovGRPOTrainer`]: KL-Cov ([arXiv 2505.22617](https://huggingface.co/papers/2505.22617),
    Cui et al.). Defaults are the authors' 7B recipe (`kl_cov_ratio = 0.002`, `ppo_kl_coef = 1`); verl's own config
    defaults are `0.0002` and `0.1`.

    The term is `|log p - log p_old|`, which has no gradient when every update is on-policy: it needs
    `num_iterations > 1` or `steps_per_generation` above `gradient_accumulation_steps` (the trainer refuses
    otherwise). So unless `steps_per_generation` or `generation_batch_size` is set, `steps_per_generation` defaults
    to `2 * gradient_accumulation_steps` here (TRL's [`~trl.GRPOConfig`]: `gradient_accumulation_steps`), the
    fewest updates per generation with which the term acts; the authors' verl recipes take several mini-batch
    updates per generated batch.

    Parameters:
        kl_cov_ratio (`float`, *optional*, defaults to `0.002`):
            Share of the valid tokens (at least one), largest covariance first, that get the penalty; `(0, 1]`.
        kl_cov_coef (`float`, *optional*, defaults to `1.0`):
            Coefficient of `|log p - log p_old|` on those tokens; `>= 0`.
        kl_cov_scope (`str`, *optional*, defaults to `"per_micro_batch"`):
            Selection set: `"per_micro_batch"` (the authors' code) or `"global"` (the optimizer step over all
            processes, the paper's description; one extra forward without gradient per micro-batch).
    """

    kl_cov_ratio: float = field(
        default=0.002,
        metadata={"help": "Share of valid tokens (>= 1), largest covariance first, penalised; (0, 1]. verl: 2e-4."},
    )
    kl_cov_coef: float = field(
        default=1.0, metadata={"help": "Coefficient of |log p - log p_old| on those tokens; >= 0. verl: 0.1."}
    )
    kl_cov_scope: str = field(
        default="per_micro_batch", metadata={"help": SCOPE_HELP, "choices": list(COVARIANCE_SCOPES)}
    )

    def __post_init__(self):
        check_kl_cov_params(self.kl_cov_ratio, self.kl_cov_coef, prefix="kl_cov_")
        check_scope(self.kl_cov_scope, "kl_cov_scope")
        if self.steps_per_generation is None and self.generation_batch_size is None:
            # Set before TRL derives generation_batch_size from it; TRL's own default (= gradient_accumulation_steps)
            # makes every update on-policy, where the penalty does nothing and the trainer refuses.
            self.steps_per_generation = 2 * self.gradient_accumulation_steps
        super().__post_init__()
        if self.kl_cov_scope == "global":
            check_global_scope_layout(self, "kl_cov_scope")
