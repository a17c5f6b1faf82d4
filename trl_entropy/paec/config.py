# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

from dataclasses import dataclass, field

from trl import GRPOConfig

from ..distributed import check_step_scope_layout
from .functional import ENTROPY_NORMALIZATIONS, PAEC_SCOPES, SCORE_COMBINATIONS, check_paec_params


@dataclass
class PAECGRPOConfig(GRPOConfig):
    r"""
    Configuration class for [`PAECGRPOTrainer`]: PAEC, position-aware entropy calibration ([PAEC: A Position-Aware
    Entropy Calibration Framework for LLM Reasoning via RLVR](https://huggingface.co/papers/2606.08543)).

    Only the paper's abstract is public: `rho = 0.8` and `K = 4` anchor steps are the paper's; every other default is
    this project's choice, justified and measured in `docs/methods/paec.md`.

    Parameters:
        paec_top_p (`float`, *optional*, defaults to `0.95`):
            Nucleus mass `p` of the local top-p entropy, in `(0, 1]` (choice: the usual sampling nucleus).
        paec_entropy_weight (`float`, *optional*, defaults to `0.5`):
            Weight `w` of the normalised nucleus entropy in the decision score, in `[0, 1]`; `1 - w` goes to the top-2
            competition `exp(-(log p_1 - log p_2))`. `1` and `0` use one signal alone.
        paec_score_combination (`str`, *optional*, defaults to `"geometric"`):
            `"geometric"`: `s = e^w c^(1-w)`, high only when both signals are; `"arithmetic"`: `s = w e + (1-w) c`.
        paec_entropy_normalization (`str`, *optional*, defaults to `"vocab"`):
            Divisor of the nucleus entropy: `"vocab"` (`log V`, a constant) or `"nucleus"` (`log` of the nucleus
            size, i.e. how even the nucleus is).
        paec_rho (`float`, *optional*, defaults to `0.8`):
            The mask keeps about the top `1 - rho` share of valid positions by score (paper: `0.8`); `[0, 1)`.
        paec_mask_temperature (`float`, *optional*, defaults to `0.05`):
            Width of the soft mask's sigmoid, in quantile units; `0` gives a hard mask. `>= 0`.
        paec_use_mask (`bool`, *optional*, defaults to `True`):
            `False` is the paper's "no mask" ablation: `m = 1` at every valid position.
        paec_anchor_steps (`int`, *optional*, defaults to `4`):
            The anchor `H_0` is the masked mean entropy over the first `K` optimizer steps (paper: `4`); `>= 1`.
        paec_rho_min (`float`, *optional*, defaults to `0.8`):
            Floor `H_low = rho_min * H_0`: the penalty acts once the masked entropy has fallen by more than
            `1 - rho_min` of its starting value. `> 0`.
        paec_beta (`float`, *optional*, defaults to `1.0`):
            Penalty coefficient `beta` of `beta * max(0, H_low - Hbar)^2`; `>= 0`.
        paec_use_penalty (`bool`, *optional*, defaults to `True`):
            `False` is the paper's "no penalty" ablation (statistics and mask are still computed and logged).
        paec_skip_confident (`bool`, *optional*, defaults to `True`):
            Skip the LM-head projection at positions whose full entropy is at most `-log(top_p)`: there the best
            token holds at least `top_p` of the mass, so the nucleus is that token alone and the geometric score is
            exactly `0`. Only used with the geometric combination and `paec_entropy_weight > 0`.
        paec_tile_size (`int` or `None`, *optional*, defaults to `None`):
            Positions per LM-head tile of the statistics; `None` keeps a tile at `2**22` logits (16 MiB in float32).
        paec_mask_scope (`str`, *optional*, defaults to `"global"`):
            Which processes the quantile spans: `"global"` the valid positions of all processes, `"local"` this
            process's only (within the span `paec_scope` sets).
        paec_scope (`str`, *optional*, defaults to `"step"`):
            What the quantile and the penalty's masked mean `Hbar` span: `"step"`, every valid position of the
            optimizer step (all its micro-batches; `Hbar` over all processes), as `METHODS.md` asks, at the cost of
            one policy forward without gradient per micro-batch when `gradient_accumulation_steps > 1`;
            `"micro_batch"`, each micro-batch alone (`Hbar` per micro-batch and process; the earlier behaviour), no
            extra forward. `"step"` needs `steps_per_generation` to be a multiple of
            `gradient_accumulation_steps`.
    """

    paec_top_p: float = field(default=0.95, metadata={"help": "Nucleus mass p of the local top-p entropy, in (0, 1]."})
    paec_entropy_weight: float = field(
        default=0.5,
        metadata={
            "help": "Weight w of the normalised nucleus entropy in the decision score (1 - w: top-2 "
            "competition), in [0, 1]."
        },
    )
    paec_score_combination: str = field(
        default="geometric",
        metadata={
            "help": "geometric: s = e^w c^(1-w); arithmetic: s = w e + (1-w) c.",
            "choices": list(SCORE_COMBINATIONS),
        },
    )
    paec_entropy_normalization: str = field(
        default="vocab",
        metadata={
            "help": "Divisor of the nucleus entropy: vocab (log V) or nucleus (log of the nucleus size).",
            "choices": list(ENTROPY_NORMALIZATIONS),
        },
    )
    paec_rho: float = field(
        default=0.8, metadata={"help": "The mask keeps about the top 1 - rho share of positions (paper: 0.8); [0, 1)."}
    )
    paec_mask_temperature: float = field(
        default=0.05, metadata={"help": "Soft-mask sigmoid width in quantile units; 0 = hard mask. >= 0."}
    )
    paec_use_mask: bool = field(
        default=True, metadata={"help": "False: the paper's no-mask ablation (m = 1 at every valid position)."}
    )
    paec_anchor_steps: int = field(
        default=4, metadata={"help": "Anchor H_0 = masked mean entropy over the first K optimizer steps (paper: 4)."}
    )
    paec_rho_min: float = field(default=0.8, metadata={"help": "Floor H_low = rho_min * H_0; > 0."})
    paec_beta: float = field(default=1.0, metadata={"help": "Penalty coefficient beta; >= 0."})
    paec_use_penalty: bool = field(
        default=True, metadata={"help": "False: the paper's no-penalty ablation (statistics are still logged)."}
    )
    paec_skip_confident: bool = field(
        default=True,
        metadata={
            "help": "Skip the LM-head projection where the full entropy is <= -log(top_p) (exact: the nucleus "
            "is one token there)."
        },
    )
    paec_tile_size: int | None = field(
        default=None, metadata={"help": "Positions per LM-head tile; None: 2**22 logits per tile."}
    )
    paec_mask_scope: str = field(
        default="global",
        metadata={
            "help": "Quantile over all processes (global) or this process (local).",
            "choices": ["global", "local"],
        },
    )
    paec_scope: str = field(
        default="step",
        metadata={
            "help": "Span of the quantile and of the penalty's masked mean: step (all micro-batches of the "
            "optimizer step; one extra forward without gradient per micro-batch under gradient accumulation) or "
            "micro_batch.",
            "choices": list(PAEC_SCOPES),
        },
    )

    def __post_init__(self):
        check_paec_params(
            top_p=self.paec_top_p,
            entropy_weight=self.paec_entropy_weight,
            score_combination=self.paec_score_combination,
            entropy_normalization=self.paec_entropy_normalization,
            rho=self.paec_rho,
            mask_temperature=self.paec_mask_temperature,
            anchor_steps=self.paec_anchor_steps,
            rho_min=self.paec_rho_min,
            beta=self.paec_beta,
            tile_size=self.paec_tile_size,
            mask_scope=self.paec_mask_scope,
            scope=self.paec_scope,
        )
        super().__post_init__()
        if self.paec_scope == "step":
            check_step_scope_layout(self, "paec_scope", "step", "micro_batch")
