# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

import textwrap
from typing import Any

import torch

from ..entropy_grpo_trainer import EntropyGRPOTrainer, loss_mask
from ..functional.ppl_shaping import (
    check_ppl_advantage_params,
    completion_log_perplexity,
    finite_token_mask,
    ppl_advantage_weights,
    ppl_shaped_advantages,
)
from ..shaper import AdvantageShaper
from .config import PPLShapingGRPOConfig


PAPER_2508_02260 = {
    "title": "Decomposing the Entropy-Performance Exchange: The Missing Keys to Unlocking Effective Reinforcement "
    "Learning",
    "id": "2508.02260",
    # docstyle-ignore
    "citation": textwrap.dedent("""\
        @article{deng2025decomposing,
            title        = {{Decomposing the Entropy-Performance Exchange: The Missing Keys to Unlocking Effective Reinforcement Learning}},
            author       = {Jia Deng and Jie Chen and Zhipeng Chen and Wayne Xin Zhao and Ji-Rong Wen},
            year         = 2025,
            eprint       = {arXiv:2508.02260},
        }"""),
}

# Keys this shaper adds to the generated batch (TRL shuffles and splits them with the rest of the batch).
WEIGHTS_KEY = "ppl_weights"
INDEX_KEY = "ppl_completion_index"


class PPLShaper(AdvantageShaper):
    r"""
    Multiplies each completion's advantage by `1 - alpha * z(lnPPL)`, the z-score taken over all completions of its
    prompt (on every process).

    Rollout log-probs come, in this order of preference, from TRL's `old_per_token_logps` (the rollout policy's
    full-distribution log-probs), from vLLM's sampling log-probs (`sampling_per_token_logps`, taken after top-p /
    top-k filtering, so possibly `-inf` or NaN at a token), or, when TRL computed neither (its on-policy default),
    from the loss pass itself: with
    `steps_per_generation == 1` the whole generated batch goes through one loss pass whose detached log-probs are the
    rollout policy's, so the weights cost nothing. Otherwise (`steps_per_generation > 1` without old log-probs) the
    groups are spread over several passes, and one extra no-gradient forward over the generated batch is run at
    generation time, the same forward TRL runs for `old_per_token_logps`. Tokens with a non-finite log-prob are left
    out of their completion's lnPPL mean ([`~trl_entropy.functional.finite_token_mask`]).
    """

    name = "ppl"
    paper = PAPER_2508_02260

    config_class = PPLShapingGRPOConfig
    fields = ("ppl_alpha", "ppl_exclude_outliers", "ppl_sigma_floor", "ppl_clamp")

    def __init__(self, args: Any):
        super().__init__(args)
        self.alpha = self.option("ppl_alpha")
        self.exclude_outliers = self.option("ppl_exclude_outliers")
        self.sigma_floor = self.option("ppl_sigma_floor")
        clamp = self.option("ppl_clamp")
        self.clamp = None if clamp is None else tuple(clamp)
        check_ppl_advantage_params(self.alpha, self.clamp, prefix="ppl_")

    def _global_weights(self, log_ppl: torch.Tensor, valid: torch.Tensor, num_generations: int):
        """Weights of every completion of every process, from per-completion lnPPL in global batch order."""
        # One value per completion is all the function needs: a (N, 1) "sequence" whose only log-prob is -lnPPL
        # (and whose mask says whether the completion had any token) has exactly that log-perplexity.
        return ppl_advantage_weights(
            (-log_ppl).unsqueeze(1),
            valid.to(log_ppl.dtype).unsqueeze(1),
            num_generations,
            alpha=self.alpha,
            exclude_outliers=self.exclude_outliers,
            sigma_floor=self.sigma_floor,
            clamp=self.clamp,
        )

    def on_generation(self, trainer, batch: dict[str, Any], mode: str) -> None:
        mask = loss_mask(batch)
        # TRL's old log-probs first: vLLM's sampling log-probs are taken after top-p / top-k filtering.
        logps = batch.get("old_per_token_logps")
        if logps is None:
            logps = batch.get("sampling_per_token_logps")
        local_size = batch["completion_ids"].size(0)
        if logps is None:
            if mode == "eval" or trainer.args.steps_per_generation == 1:
                # Weights are computed in the loss pass; remember where each completion sits in the global batch,
                # because TRL shuffles the batch before the loss.
                start = trainer.accelerator.process_index * local_size
                batch[INDEX_KEY] = torch.arange(start, start + local_size, device=mask.device)
                return
            logps = self._rollout_logps(trainer, batch)
        # Non-finite log-probs are left out of each completion's mean (not zeroed), and a completion without a finite
        # one has no lnPPL: it stays out of its group's statistics and gets weight 1.
        log_ppl = completion_log_perplexity(logps, mask)
        valid = finite_token_mask(logps, mask).any(dim=1)
        num_generations = trainer.num_generations if mode == "train" else trainer.num_generations_eval
        weights = self._global_weights(
            trainer.accelerator.gather(log_ppl), trainer.accelerator.gather(valid), num_generations
        )
        start = trainer.accelerator.process_index * local_size
        batch[WEIGHTS_KEY] = weights[start : start + local_size]
        batch["ppl_log_perplexity"] = log_ppl

    @torch.no_grad()
    def _rollout_logps(self, trainer, batch: dict[str, Any]) -> torch.Tensor:
        """One no-gradient forward of the policy over the generated batch (text-only), as TRL does for old log-probs."""
        input_ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
        attention_mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
        logps, _, _ = trainer._get_per_token_logps_and_entropies(
            trainer.model,
            input_ids,
            attention_mask,
            batch["completion_ids"].size(1),
            batch_size=trainer.args.per_device_train_batch_size,
        )
        return logps

    def shape(self, trainer, advantages, per_token_logps, entropies, mask, inputs) -> torch.Tensor:
        if WEIGHTS_KEY in inputs:
            weights, log_ppl = inputs[WEIGHTS_KEY], inputs["ppl_log_perplexity"]
        else:
            weights, log_ppl = self._weights_in_loss_pass(trainer, per_token_logps, mask, inputs)
        trainer.log_metric("ppl_log_perplexity_mean", log_ppl.sum(), log_ppl.numel())
        trainer.log_metric("ppl_weight_mean", weights.sum(), weights.numel())
        if self.clamp is not None:
            at_bound = (weights <= self.clamp[0]) | (weights >= self.clamp[1])
            trainer.log_metric("ppl_clamped_frac", (at_bound & (weights != 1)).float().sum(), weights.numel())
        return ppl_shaped_advantages(advantages, weights.to(advantages.dtype))

    def _weights_in_loss_pass(self, trainer, per_token_logps, mask, inputs):
        if INDEX_KEY not in inputs:
            raise RuntimeError("PPL shaping found neither weights nor completion indices in the batch.")
        log_ppl = completion_log_perplexity(per_token_logps, mask)
        valid = finite_token_mask(per_token_logps, mask).any(dim=1)
        index = inputs[INDEX_KEY]
        accelerator = trainer.accelerator
        all_log_ppl, all_valid, all_index = (
            accelerator.gather(log_ppl),
            accelerator.gather(valid),
            accelerator.gather(index),
        )
        mode = "train" if trainer.model.training else "eval"
        num_generations = trainer.num_generations if mode == "train" else trainer.num_generations_eval
        order = torch.argsort(all_index)
        if not torch.equal(all_index[order], torch.arange(all_index.numel(), device=all_index.device)):
            raise RuntimeError(
                "PPL shaping in the loss pass needs every completion of the generated batch in one pass "
                "(steps_per_generation == 1)."
            )
        sorted_weights = self._global_weights(all_log_ppl[order], all_valid[order], num_generations)
        weights = torch.empty_like(sorted_weights)
        weights[order] = sorted_weights
        start = accelerator.process_index * log_ppl.numel()
        return weights[start : start + log_ppl.numel()], log_ppl


class PPLShapingGRPOTrainer(EntropyGRPOTrainer):
    r"""
    GRPO with perplexity-based advantage shaping ([Decomposing the Entropy-Performance
    Exchange](https://huggingface.co/papers/2508.02260), Deng et al.).

    Each completion's advantage is multiplied by `1 - alpha * w`, `w` the z-score of its log-perplexity under the
    rollout policy among the completions of its prompt (across processes). As in the paper's text, low-perplexity
    completions get the larger weight (the authors' default code path computes this weight but never applies it).

    Logged per step: `entropy/ppl_log_perplexity_mean`, `entropy/ppl_weight_mean`, `entropy/ppl_clamped_frac`.
    A drop-in for [`~trl.GRPOTrainer`]; a plain [`~trl.GRPOConfig`] gets the paper's defaults.
    """

    _tag_names = ["trl", "grpo", "trl-entropy", "ppl-shaping"]
    _name = "PPL-Shaping GRPO"
    _paper = PAPER_2508_02260
    config_class = PPLShapingGRPOConfig
    _output_suffix = "PPLShaping-GRPO"
    shaper_classes = (PPLShaper,)
