# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

from dataclasses import dataclass, field

from trl import GRPOConfig

from ..entropy_advantage.functional import check_entropy_advantage_params
from .functional import check_ppo_params


def check_critic_precision(args) -> None:
    """
    Refuse fp16 mixed precision for PPO: `fp16=True`, or `mixed_precision` `"fp16"` from the environment (`accelerate
    launch --mixed_precision fp16`, an Accelerate config file). The critic's AdamW is not prepared by Accelerate, so
    the GradScaler that unscales the policy's gradients (and skips its steps on inf/NaN ones) would leave the
    critic's alone: the critic would clip and step on loss-scaled gradients. bf16 and fp32 need no scaler.
    """
    if getattr(args, "fp16", False) or getattr(args, "mixed_precision", None) == "fp16":
        raise ValueError(
            "`fp16=True` (fp16 mixed precision, also from `ACCELERATE_MIXED_PRECISION=fp16` or `accelerate launch "
            "--mixed_precision fp16`) is not supported by PPO's critic: the critic's optimizer is not prepared by "
            "Accelerate, so fp16's GradScaler would not unscale its gradients and the critic would be clipped and "
            "stepped on loss-scaled gradients (and on the inf/NaN ones of skipped steps). Use `bf16=True` (bf16 mixed "
            "precision, GRPOConfig's default) or fp32 (`bf16=False`, `fp16=False`)."
        )


@dataclass
class PPOConfig(GRPOConfig):
    r"""
    Configuration class for [`PPOTrainer`]: PPO with a learned critic on TRL 1.16's GRPO machinery (generation,
    reward functions, vLLM, logging, PEFT, Accelerate).

    Every [`~trl.GRPOConfig`] field works; the policy loss is TRL's clipped surrogate (`loss_type`, `epsilon`,
    `epsilon_high`, `beta` for a KL to the reference model) on the critic's GAE advantages instead of group-normalised
    rewards. `num_generations` defaults to `1` (PPO needs no group; any value works).

    Parameters:
        ppo_gamma (`float`, *optional*, defaults to `1.0`):
            Discount `gamma` of GAE over completion tokens; `[0, 1]`.
        ppo_lam (`float`, *optional*, defaults to `1.0`):
            GAE `lambda`; `[0, 1]` (`1`: Monte-Carlo returns minus values).
        ppo_whiten_advantages (`bool`, *optional*, defaults to `True`):
            Normalise the advantages to mean 0 and standard deviation 1 over the valid tokens of the generation
            batch of all processes.
        ppo_value_clip (`float` or `None`, *optional*, defaults to `0.2`):
            Clip range of the value loss around the values at generation time; `None` disables the clipping; `> 0`.
        ppo_vf_coef (`float`, *optional*, defaults to `0.1`):
            Factor `c` on the value loss. The critic shares no trained parameter and no optimizer with the policy
            (neither with `ppo_critic_share_backbone`, whose shared weights are frozen), so `c` weighs nothing
            against the policy loss: it only multiplies the critic's gradients, which are then clipped at
            `max_grad_norm` and stepped by the critic's own AdamW. AdamW's update is invariant to that scale except
            through its epsilon: `c` acts exactly as an epsilon of `1e-8 / c` and a clipping threshold of
            `max_grad_norm / c` on the unscaled gradients. It matters only where the critic's gradients are as small
            as the epsilon (its backbone's first steps, while the zero-initialised head is small) or the clipping
            binds. Set how fast the critic learns with `ppo_critic_learning_rate`. (It also scales the value loss's
            share of the logged `loss`.) `> 0`.
        ppo_critic_warmup_steps (`int`, *optional*, defaults to `0`):
            Optimizer steps at the start of training in which only the critic trains (the policy is not updated):
            the critic pre-training of arXiv 2506.14758's PPO runs. Counted by `global_step`, so a resumed run
            continues the count. The policy's learning-rate schedule starts after them: it is built for
            `max_steps - ppo_critic_warmup_steps` steps and does not step during the warm-up. `>= 0`.
        ppo_critic_model_name_or_path (`str`, *optional*):
            Checkpoint the critic's backbone is loaded from (with a new scalar head); defaults to the policy's.
        ppo_critic_learning_rate (`float`, *optional*):
            Learning rate of the critic's AdamW (constant); defaults to `learning_rate`.
        ppo_critic_lora_r (`int`, *optional*, defaults to `0`):
            `> 0`: train the critic as LoRA adapters of this rank on every linear layer of its (frozen) backbone,
            plus its full scalar head; `0`: train the whole critic.
        ppo_critic_lora_alpha (`int`, *optional*):
            LoRA scaling `alpha` of the critic's adapters; defaults to `2 * ppo_critic_lora_r`.
        ppo_critic_share_backbone (`bool`, *optional*, defaults to `False`):
            Share the policy's frozen backbone weights with the critic (same tensors in memory): needs a LoRA policy
            (`peft_config`) from the same checkpoint. The critic then trains its LoRA adapters
            (`ppo_critic_lora_r > 0`) and head, or its head alone (`ppo_critic_lora_r = 0`). Not with FSDP.

    fp16 mixed precision (`fp16=True`, or `ACCELERATE_MIXED_PRECISION=fp16`) is refused: the critic's optimizer is not
    prepared by Accelerate, so fp16's gradient scaler would not unscale the critic's gradients. Use `bf16=True` or
    fp32.
    """

    num_generations: int | None = field(
        default=1, metadata={"help": "Completions per prompt; PPO needs no group (1), any value >= 1 works."}
    )
    ppo_gamma: float = field(default=1.0, metadata={"help": "GAE discount gamma over completion tokens; [0, 1]."})
    ppo_lam: float = field(default=1.0, metadata={"help": "GAE lambda; [0, 1]."})
    ppo_whiten_advantages: bool = field(
        default=True, metadata={"help": "Whiten advantages over the valid tokens of the generation batch."}
    )
    ppo_value_clip: float | None = field(
        default=0.2, metadata={"help": "Clip range of the value loss around the old values; None: no clipping."}
    )
    ppo_vf_coef: float = field(
        default=0.1,
        metadata={
            "help": "Factor c on the value loss; > 0. It only scales the critic's gradients before max_grad_norm "
            "clipping and the critic's own AdamW: the same as an Adam epsilon of 1e-8 / c and a clip of "
            "max_grad_norm / c. Set the critic's step size with ppo_critic_learning_rate."
        },
    )
    ppo_critic_warmup_steps: int = field(
        default=0,
        metadata={
            "help": "Optimizer steps at the start in which only the critic trains (the policy's learning-rate "
            "schedule starts after them); >= 0."
        },
    )
    ppo_critic_model_name_or_path: str | None = field(
        default=None, metadata={"help": "Checkpoint of the critic's backbone (default: the policy's)."}
    )
    ppo_critic_learning_rate: float | None = field(
        default=None, metadata={"help": "Learning rate of the critic (default: learning_rate)."}
    )
    ppo_critic_lora_r: int = field(
        default=0, metadata={"help": "> 0: the critic trains LoRA adapters of this rank and its head; 0: all of it."}
    )
    ppo_critic_lora_alpha: int | None = field(
        default=None, metadata={"help": "LoRA alpha of the critic's adapters (default: 2 * ppo_critic_lora_r)."}
    )
    ppo_critic_share_backbone: bool = field(
        default=False,
        metadata={"help": "Share the LoRA policy's frozen backbone weights with the critic (one copy in memory)."},
    )

    def __post_init__(self):
        check_ppo_params(self.ppo_gamma, self.ppo_lam, self.ppo_value_clip, prefix="ppo_")
        if not self.ppo_vf_coef > 0:
            raise ValueError(f"`ppo_vf_coef` must be > 0 (valid range: (0, inf)), got {self.ppo_vf_coef}.")
        if isinstance(self.ppo_critic_warmup_steps, bool) or self.ppo_critic_warmup_steps < 0:
            raise ValueError(f"`ppo_critic_warmup_steps` must be an integer >= 0, got {self.ppo_critic_warmup_steps}.")
        if self.ppo_critic_learning_rate is not None and not self.ppo_critic_learning_rate > 0:
            raise ValueError(f"`ppo_critic_learning_rate` must be > 0 or None, got {self.ppo_critic_learning_rate}.")
        if isinstance(self.ppo_critic_lora_r, bool) or self.ppo_critic_lora_r < 0:
            raise ValueError(f"`ppo_critic_lora_r` must be an integer >= 0, got {self.ppo_critic_lora_r}.")
        if self.ppo_critic_lora_alpha is not None and not self.ppo_critic_lora_alpha > 0:
            raise ValueError(f"`ppo_critic_lora_alpha` must be > 0 or None, got {self.ppo_critic_lora_alpha}.")
        if self.num_generations is not None and self.num_generations < 1:
            raise ValueError(f"`num_generations` must be >= 1, got {self.num_generations}.")
        # GRPOConfig refuses fewer than 2 completions per prompt (GRPO's group baseline needs them); PPO's baseline
        # is the critic. Its other checks are run with 2 and hold a fortiori for 1, except that the generation batch
        # must then be even.
        one_per_prompt = self.num_generations == 1
        if one_per_prompt:
            self.num_generations = 2
        try:
            super().__post_init__()
        finally:
            if one_per_prompt:
                self.num_generations = 1
        check_critic_precision(self)


@dataclass
class EntropyAdvantagePPOConfig(PPOConfig):
    r"""
    Configuration class for [`EntropyAdvantagePPOTrainer`]: PPO with entropy-based advantage shaping ([Reasoning with
    Exploration: An Entropy Perspective](https://huggingface.co/papers/2506.14758)) on the GAE advantages, with the
    paper's PPO defaults.

    Parameters:
        entropy_advantage_alpha (`float`, *optional*, defaults to `0.1`):
            Entropy coefficient `alpha` of `psi_t = min(alpha * H_t, |A_t| / kappa)`; the paper uses `0.1` for PPO.
            `>= 0`.
        entropy_advantage_kappa (`float`, *optional*, defaults to `2.0`):
            Clip divisor `kappa` (the paper: `2`); `> 1`.
    """

    entropy_advantage_alpha: float = field(
        default=0.1, metadata={"help": "Entropy coefficient alpha (the paper: 0.1 for PPO); >= 0."}
    )
    entropy_advantage_kappa: float = field(default=2.0, metadata={"help": "Clip divisor kappa (the paper: 2); > 1."})

    def __post_init__(self):
        check_entropy_advantage_params(
            self.entropy_advantage_alpha, self.entropy_advantage_kappa, "entropy_advantage_"
        )
        super().__post_init__()
