# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

from dataclasses import dataclass, field

from trl import GRPOConfig

from .functional import check_sent_kl_params


SENT_KL_TARGETS = ("old", "ref")
SENT_COV_SCOPES = ("local", "global")
# Config field of each parameter of `low_entropy_cov_kl`, for error messages.
SENT_KL_FIELD_NAMES = {
    "low_entropy_share": "low_entropy_share",
    "ratio": "cov_ratio",
    "coef": "kl_coef",
    "high_mult": "high_cov_mult",
    "low_mult": "low_cov_mult",
}


def check_sent_options(kl_target: str, cov_scope: str, prefix: str = "sent_") -> None:
    """Raise a `ValueError` naming the field if `kl_target` or `cov_scope` is not a valid choice."""
    if kl_target not in SENT_KL_TARGETS:
        raise ValueError(f"`{prefix}kl_target` must be one of {SENT_KL_TARGETS}, got {kl_target!r}.")
    if cov_scope not in SENT_COV_SCOPES:
        raise ValueError(f"`{prefix}cov_scope` must be one of {SENT_COV_SCOPES}, got {cov_scope!r}.")


@dataclass
class SENTGRPOConfig(GRPOConfig):
    r"""
    Configuration class for [`SENTGRPOTrainer`]: the token side of SENT
    ([arXiv 2512.04359](https://huggingface.co/papers/2512.04359)), a KL constraint on the low-entropy tokens, stronger
    where advantage and log-prob covary most. The data side, the semantic-entropy curriculum, is the `train_dataset`:
    [`SemanticEntropyCurriculum`] (with `shuffle_dataset=False`).

    Defaults are the authors' code (METHODS.md section 5), including their two optimizer steps per generation (batch
    256, mini-batch 128): unless `steps_per_generation` or `generation_batch_size` is set, `steps_per_generation`
    defaults to `2 * gradient_accumulation_steps` (TRL's [`~trl.GRPOConfig`]: `gradient_accumulation_steps`, every
    update on-policy), so that the default `sent_kl_target="old"` acts. `num_iterations` keeps TRL's default, 1.

    Parameters:
        sent_low_entropy_share (`float`, *optional*, defaults to `0.8`):
            Share of the valid tokens, lowest entropy first, that the KL may constrain; `(0, 1]`.
        sent_cov_ratio (`float`, *optional*, defaults to `0.0002`):
            Share `r` of those tokens constrained at each end of the covariance ranking (at least one token each);
            `(0, 0.5]`.
        sent_kl_coef (`float`, *optional*, defaults to `0.1`):
            Base KL coefficient `c`; `>= 0`.
        sent_high_cov_mult (`float`, *optional*, defaults to `2.0`):
            The top-`r` tokens by covariance get `high_cov_mult * c`; `>= 0`.
        sent_low_cov_mult (`float`, *optional*, defaults to `0.5`):
            The bottom-`r` tokens by covariance get `low_cov_mult * c`; `>= 0`.
        sent_kl_target (`str`, *optional*, defaults to `"old"`):
            `"old"`: the authors' `|log p - log p_old|` against the policy that sampled the batch; it has no gradient
            when the update is fully on-policy, so it needs `num_iterations > 1` or `steps_per_generation` above
            `gradient_accumulation_steps` (the default here; the trainer refuses an on-policy setting). `"ref"`:
            TRL's `k3` KL estimate against the reference model, which acts on-policy too; needs `beta > 0` (TRL then
            loads the reference model and adds its own `beta` KL on every token).
        sent_cov_scope (`str`, *optional*, defaults to `"local"`):
            Where the low-entropy set and the covariance ranking are taken: `"local"`, on the micro-batch of each
            process (the authors' code); `"global"`, on the micro-batch of all processes together (the same
            selection whatever the number of processes).
        sent_use_kl (`bool`, *optional*, defaults to `True`):
            `False` trains without the token KL (the curriculum alone); the selection is still logged.
    """

    # TRL's field, with SENT's default (set in `__post_init__`).
    steps_per_generation: int | None = field(
        default=None,
        metadata={
            "help": "Number of steps per generation. If `None` (and `generation_batch_size` is `None`), it defaults "
            "to `2 * gradient_accumulation_steps` (SENT's authors; TRL's GRPOConfig: `gradient_accumulation_steps`)."
        },
    )
    sent_low_entropy_share: float = field(
        default=0.8, metadata={"help": "Share of valid tokens, lowest entropy first, the KL may constrain; (0, 1]."}
    )
    sent_cov_ratio: float = field(
        default=0.0002,
        metadata={"help": "Share r constrained at each end of the covariance ranking (>= 1 token); (0, 0.5]."},
    )
    sent_kl_coef: float = field(default=0.1, metadata={"help": "Base KL coefficient c; >= 0."})
    sent_high_cov_mult: float = field(
        default=2.0, metadata={"help": "Multiplier of c on the top-r tokens by covariance; >= 0."}
    )
    sent_low_cov_mult: float = field(
        default=0.5, metadata={"help": "Multiplier of c on the bottom-r tokens by covariance; >= 0."}
    )
    sent_kl_target: str = field(
        default="old",
        metadata={
            "help": "old: |log p - log p_old| (authors; needs off-policy updates); ref: k3 KL to the reference "
            "model (acts on-policy; needs beta > 0).",
            "choices": list(SENT_KL_TARGETS),
        },
    )
    sent_cov_scope: str = field(
        default="local",
        metadata={
            "help": "Selection per micro-batch of each process (local, authors) or of all processes (global).",
            "choices": list(SENT_COV_SCOPES),
        },
    )
    sent_use_kl: bool = field(
        default=True, metadata={"help": "False: no token KL (the curriculum alone); the selection is still logged."}
    )

    def __post_init__(self):
        check_sent_kl_params(
            low_entropy_share=self.sent_low_entropy_share,
            ratio=self.sent_cov_ratio,
            coef=self.sent_kl_coef,
            high_mult=self.sent_high_cov_mult,
            low_mult=self.sent_low_cov_mult,
            prefix="sent_",
            names=SENT_KL_FIELD_NAMES,
        )
        check_sent_options(self.sent_kl_target, self.sent_cov_scope)
        if self.steps_per_generation is None and self.generation_batch_size is None:
            # The authors' two optimizer steps per generation (batch 256, mini-batch 128), where TRL's GRPOConfig
            # would take steps_per_generation = gradient_accumulation_steps (every update on-policy, so that
            # |log p - log p_old| does nothing). Set before TRL derives generation_batch_size from it.
            self.steps_per_generation = 2 * self.gradient_accumulation_steps
        super().__post_init__()
