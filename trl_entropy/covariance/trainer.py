# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

import textwrap
from typing import Any

import torch

from ..entropy_grpo_trainer import EntropyGRPOTrainer
from ..functional.covariance import (
    check_clip_cov_params,
    check_kl_cov_params,
    clip_cov_selection,
    covariance_summary,
    kl_cov_penalty,
    kl_cov_selection,
    ppo_clipped_tokens,
    token_covariance,
)
from ..sent.trainer import is_fully_on_policy, on_policy_refusal
from ..shaper import AdvantageShaper, config_option
from .config import ClipCovGRPOConfig, KLCovGRPOConfig, check_scope


PAPER_2505_22617 = {
    "title": "The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models",
    "id": "2505.22617",
    # docstyle-ignore
    "citation": textwrap.dedent("""\
        @article{cui2025entropy,
            title        = {{The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models}},
            author       = {Ganqu Cui and Yuchen Zhang and Jiacheng Chen and Lifan Yuan and Zhi Wang and Yuxin Zuo and Haozhan Li and Yuchen Fan and Huayu Chen and Weize Chen and Zhiyuan Liu and Hao Peng and Lei Bai and Wanli Ouyang and Yu Cheng and Bowen Zhou and Ning Ding},
            year         = 2025,
            eprint       = {arXiv:2505.22617},
        }"""),
}

CLIP_COV_FIELDS = tuple(name for name in ClipCovGRPOConfig.__dataclass_fields__ if name.startswith("clip_cov_"))
KL_COV_FIELDS = tuple(name for name in KLCovGRPOConfig.__dataclass_fields__ if name.startswith("kl_cov_"))


def log_covariance_metrics(trainer: EntropyGRPOTrainer, prefix: str, cov, mask, selected) -> None:
    """Log the selected share of the valid tokens and the minimum, mean and maximum covariance of the micro-batch.

    The mean is exact over all tokens of all processes; the minimum and maximum are those of each micro-batch of each
    process, averaged over the micro-batches and processes of the step (the base trainer reduces sums)."""
    num_valid = mask.sum()
    has_tokens = float(num_valid > 0)
    low, _, high = covariance_summary(cov, mask)
    trainer.log_metric(f"{prefix}_selected_share", selected.sum(), num_valid)
    trainer.log_metric(f"{prefix}_cov_mean", (cov * mask).sum(), num_valid)
    trainer.log_metric(f"{prefix}_cov_min", low.nan_to_num(0.0), has_tokens)
    trainer.log_metric(f"{prefix}_cov_max", high.nan_to_num(0.0), has_tokens)
    trainer.record_token_values(f"{prefix}_selected", selected.float(), kind="selection")


class ClipCovShaper(AdvantageShaper):
    """Sets the advantage of the Clip-Cov tokens to `0` (no policy gradient through them) and logs the selection."""

    name = "clip_cov"
    paper = PAPER_2505_22617
    config_class = ClipCovGRPOConfig
    fields = CLIP_COV_FIELDS

    def __init__(self, args: Any):
        super().__init__(args)
        self.ratio = self.option("clip_cov_ratio")
        self.lower = self.option("clip_cov_lb")
        self.upper = self.option("clip_cov_ub")
        self.exclude_clipped = self.option("clip_cov_exclude_clipped")
        check_clip_cov_params(self.ratio, self.lower, self.upper, prefix="clip_cov_")
        check_scope(self.option("clip_cov_scope"), "clip_cov_scope")
        self.generator: torch.Generator | None = None

    def random_generator(self, trainer: EntropyGRPOTrainer) -> torch.Generator:
        """The CPU generator of the draws, seeded once with `seed + process_index` (each process draws its own)."""
        if self.generator is None:
            self.generator = torch.Generator().manual_seed(trainer.args.seed + trainer.accelerator.process_index)
        return self.generator

    def shape(self, trainer, advantages, per_token_logps, entropies, mask, inputs) -> torch.Tensor:
        cov = token_covariance(advantages, per_token_logps, mask)
        old_logps = inputs.get("old_per_token_logps")
        exclude = None
        if self.exclude_clipped and old_logps is not None:  # on-policy (no old log-probs) the ratio is 1: none is
            exclude = ppo_clipped_tokens(
                per_token_logps, old_logps, advantages, trainer.epsilon_low, trainer.epsilon_high
            )
        selected = clip_cov_selection(
            cov, mask, self.ratio, self.lower, self.upper, generator=self.random_generator(trainer), exclude=exclude
        )
        candidates = (mask > 0) & (cov > self.lower) & (cov < self.upper)
        trainer.log_metric("clip_cov_candidate_share", candidates.sum(), mask.sum())
        log_covariance_metrics(trainer, "clip_cov", cov, mask, selected)
        base = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
        return base.expand(mask.shape).masked_fill(selected, 0.0)


class ClipCovGRPOTrainer(EntropyGRPOTrainer):
    r"""
    GRPO with Clip-Cov ([The Entropy Mechanism of Reinforcement Learning for Reasoning Language
    Models](https://huggingface.co/papers/2505.22617), Cui et al.).

    In every loss pass, on the detached log-probs of the same forward as TRL's loss, the token covariance
    `cov_t = (A_t - mean A)(logp_t - mean logp)` is taken over the micro-batch's valid tokens; among the tokens with
    `clip_cov_lb < cov_t < clip_cov_ub`, `max(1, floor(clip_cov_ratio * n_valid))` drawn at random get advantage `0`,
    so TRL's loss gives them no policy gradient (they still count in its normaliser, as in the authors' code). A
    shaping method ([`ClipCovShaper`]): TRL's loss is untouched.

    The draws come from a CPU `torch.Generator` seeded with `seed + process_index`, so a run is reproducible (a
    resumed run restarts the generator).

    A drop-in replacement for [`~trl.GRPOTrainer`]: `args` may be a [`ClipCovGRPOConfig`] or any
    [`~trl.GRPOConfig`] (then with the authors' defaults).

    Logged per step under `entropy/`: `clip_cov_selected_share` and `clip_cov_candidate_share` (shares of the valid
    tokens selected and in the band), `clip_cov_cov_mean` (exact over all tokens), `clip_cov_cov_min` and
    `clip_cov_cov_max` (per micro-batch, averaged).
    """

    _tag_names = ["trl", "grpo", "trl-entropy", "clip-cov"]
    _name = "Clip-Cov GRPO"
    _paper = PAPER_2505_22617
    config_class = ClipCovGRPOConfig
    _output_suffix = "ClipCov-GRPO"
    shaper_classes = (ClipCovShaper,)


class KLCovGRPOTrainer(EntropyGRPOTrainer):
    r"""
    GRPO with KL-Cov ([The Entropy Mechanism of Reinforcement Learning for Reasoning Language
    Models](https://huggingface.co/papers/2505.22617), Cui et al.).

    In every loss pass the `max(1, floor(kl_cov_ratio * n_valid))` valid tokens of the micro-batch with the largest
    covariance `cov_t = (A_t - mean A)(logp_t - mean logp)` (detached) get the penalty
    `kl_cov_coef * |log p_t - log p_old,t|`; the loss gets its sum divided by the number of valid tokens, with gradient
    through the current log-probs only ([`~EntropyGRPOTrainer.extra_loss`]). TRL's loss is untouched (the authors'
    code also drops PPO's clipping on every token; see `docs/methods/clip_kl_cov.md`).

    On-policy `log p_old = log p` and the term does nothing: the trainer refuses that configuration, as
    [`SENTGRPOTrainer`] does, and says how to make it act.

    Logged per step under `entropy/`: `kl_cov_penalty` (the loss term), `kl_cov_selected_share`, `kl_cov_selected_kl`
    (mean `|log p - log p_old|` over the selected tokens), `kl_cov_cov_mean`, `kl_cov_cov_min`, `kl_cov_cov_max`.
    """

    _tag_names = ["trl", "grpo", "trl-entropy", "kl-cov"]
    _name = "KL-Cov GRPO"
    _paper = PAPER_2505_22617
    config_class = KLCovGRPOConfig
    _output_suffix = "KLCov-GRPO"

    def build_stateful_callbacks(self, args) -> None:
        # Called before GRPOTrainer.__init__: a bad configuration fails before any model is loaded.
        self.kl_cov = {name: config_option(args, KLCovGRPOConfig, name) for name in KL_COV_FIELDS}
        check_kl_cov_params(self.kl_cov["kl_cov_ratio"], self.kl_cov["kl_cov_coef"], prefix="kl_cov_")
        check_scope(self.kl_cov["kl_cov_scope"], "kl_cov_scope")
        if is_fully_on_policy(args):
            raise ValueError(
                on_policy_refusal(args, "KL-Cov's penalty") + " (e.g. `steps_per_generation = 2 * "
                "gradient_accumulation_steps`), or train with Clip-Cov (`ClipCovGRPOTrainer`), which acts on-policy."
            )

    def method_hyperparameters(self) -> dict[str, Any]:
        return dict(self.kl_cov)

    def extra_loss(self, per_token_logps, entropies, mask, inputs):
        old_logps = inputs.get("old_per_token_logps")
        if old_logps is None:
            # TRL leaves it out when it trains on a batch with the policy that sampled it: then p_old = p.
            old_logps = per_token_logps.detach()
        cov = token_covariance(inputs["advantages"], per_token_logps, mask)
        selected = kl_cov_selection(cov, mask, self.kl_cov["kl_cov_ratio"])
        per_token = kl_cov_penalty(per_token_logps, old_logps, selected, self.kl_cov["kl_cov_coef"]) * mask
        num_valid = mask.sum()
        penalty = per_token.sum() / num_valid.clamp(min=1)
        distance = (per_token_logps.detach() - old_logps.detach()).abs()
        self.log_metric("kl_cov_penalty", penalty.detach(), 1.0)
        self.log_metric("kl_cov_selected_kl", (distance * selected).sum(), selected.sum())
        log_covariance_metrics(self, "kl_cov", cov, mask, selected)
        return penalty
