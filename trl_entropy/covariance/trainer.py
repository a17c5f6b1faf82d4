# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

import textwrap
from typing import Any, NamedTuple

import torch

from ..distributed import gather_variable_length
from ..entropy_grpo_trainer import EntropyGRPOTrainer, loss_mask
from ..functional.covariance import (
    check_clip_cov_params,
    check_kl_cov_params,
    clip_cov_selection,
    covariance_summary,
    kl_cov_penalty,
    kl_cov_selection,
    ppo_clipped_tokens,
    split_valid_token_vector,
    token_covariance,
    valid_token_vector,
)
from ..sent.trainer import is_fully_on_policy, on_policy_refusal
from ..shaper import AdvantageShaper, config_option
from ..step_window import OptimizerStepWindow
from .config import ClipCovGRPOConfig, KLCovGRPOConfig, check_global_scope_layout, check_scope


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


class CovarianceWindow(NamedTuple):
    """The `global` scope's covariances and selections for the micro-batches of one optimizer step on this process,
    each `(B, T)` in the micro-batch's shape, in the order TRL feeds the micro-batches."""

    covariances: list[torch.Tensor]
    selections: list[torch.Tensor]


class GlobalCovarianceScope(OptimizerStepWindow):
    """
    The `global` scope of the two covariance trainers (a mixin before [`EntropyGRPOTrainer`]), an
    [`~trl_entropy.step_window.OptimizerStepWindow`].

    At the first micro-batch of every optimizer step, before its loss pass, the log-probs of the current policy are
    computed without gradient for all the step's micro-batches (TRL buffers them: they are the next
    `gradient_accumulation_steps` slices of the generation batch, and the policy does not change until the step's
    last backward). Their valid tokens, with the advantages, are gathered from every process in process order, the
    covariance is centred over all of them and the method's selection is made once on that row (the same function as
    the per-micro-batch scope, on the same row on every process); each loss pass then reads its micro-batch's part.
    In evaluation, a batch is its own selection set.
    """

    scope_field: str = ""

    def init_covariance_scope(self, args) -> None:
        """Read and check the scope; called before `GRPOTrainer.__init__`."""
        self.step_window_field = self.scope_field
        self.covariance_scope = config_option(args, self.config_class, self.scope_field)
        check_scope(self.covariance_scope, self.scope_field)
        if self.covariance_scope == "global":
            check_global_scope_layout(args, self.scope_field)
        self.step_window: CovarianceWindow | None = None

    def step_window_active(self) -> bool:
        return self.covariance_scope == "global" and self.model.training

    def select_tokens(self, cov: torch.Tensor, mask: torch.Tensor, exclude: torch.Tensor | None) -> torch.Tensor:
        """The method's selection on one selection set (the `(1, n)` row of the step in the global scope)."""
        raise NotImplementedError

    def exclusion(self, logps, old_logps, advantages) -> torch.Tensor | None:
        """Tokens that are never selected (Clip-Cov: those whose PPO ratio is clipped); `None` for none."""
        return None

    def build_step_window(self, batches: list[dict[str, Any]]) -> CovarianceWindow:
        masks, logps, advantages, excludes = [], [], [], []
        for batch in batches:
            mask = loss_mask(batch)
            batch_logps, _, _ = self.step_window_forward(batch)
            old_logps = batch.get("old_per_token_logps")
            exclude = None if old_logps is None else self.exclusion(batch_logps, old_logps, batch["advantages"])
            masks.append(mask)
            logps.append(batch_logps)
            advantages.append(batch["advantages"])
            excludes.append(torch.zeros_like(mask) if exclude is None else exclude.float())
        # one (n, 3) gather of every valid token's log-prob, advantage and exclusion flag
        local_tokens = torch.cat([valid_token_vector(values, masks) for values in (logps, advantages, excludes)]).T
        all_tokens, offset = gather_variable_length(self.accelerator, local_tokens)
        all_logps, all_advantages, all_excluded = all_tokens.T.unsqueeze(1)
        everything = torch.ones_like(all_logps)
        cov = token_covariance(all_advantages, all_logps, everything)
        selected = self.select_tokens(cov, everything, all_excluded > 0.5)
        local = slice(offset, offset + local_tokens.size(0))
        return CovarianceWindow(
            split_valid_token_vector(cov[0, local], masks), split_valid_token_vector(selected[0, local], masks)
        )

    def window_entry(self, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This loss pass's covariance and selection from the step's window."""
        index = self.step_window_index(mask)
        return self.step_window.covariances[index], self.step_window.selections[index]


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
        self.generator: torch.Generator | None = None

    def random_generator(self, trainer: EntropyGRPOTrainer) -> torch.Generator:
        """The CPU generator of the draws, seeded once: with `seed + process_index` in the per-micro-batch scope (each
        process draws its own), with `seed` in the global scope (every process makes the same draw on the same row)."""
        if self.generator is None:
            offset = 0 if trainer.covariance_scope == "global" else trainer.accelerator.process_index
            self.generator = torch.Generator().manual_seed(trainer.args.seed + offset)
        return self.generator

    def shape(self, trainer, advantages, per_token_logps, entropies, mask, inputs) -> torch.Tensor:
        if trainer.step_window_active():
            cov, selected = trainer.window_entry(mask)
        else:
            cov = token_covariance(advantages, per_token_logps, mask)
            old_logps = inputs.get("old_per_token_logps")
            # on-policy (no old log-probs) the ratio is 1: no token is clipped
            exclude = None if old_logps is None else trainer.exclusion(per_token_logps, old_logps, advantages)
            selected = trainer.select_tokens(cov, mask, exclude)
        candidates = (mask > 0) & (cov > self.lower) & (cov < self.upper)
        trainer.log_metric("clip_cov_candidate_share", candidates.sum(), mask.sum())
        log_covariance_metrics(trainer, "clip_cov", cov, mask, selected)
        base = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
        return base.expand(mask.shape).masked_fill(selected, 0.0)


class ClipCovGRPOTrainer(GlobalCovarianceScope, EntropyGRPOTrainer):
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

    With `clip_cov_scope="global"` the covariance and the draw are over every valid token of the optimizer step on
    every process instead (the paper's description; one extra forward without gradient per micro-batch, see
    [`GlobalCovarianceScope`]).

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
    scope_field = "clip_cov_scope"

    def build_stateful_callbacks(self, args) -> None:
        self.init_covariance_scope(args)

    def select_tokens(self, cov, mask, exclude):
        shaper = self.advantage_shapers[0]
        return clip_cov_selection(
            cov, mask, shaper.ratio, shaper.lower, shaper.upper, shaper.random_generator(self), exclude=exclude
        )

    def exclusion(self, logps, old_logps, advantages):
        if not self.advantage_shapers[0].exclude_clipped:
            return None
        return ppo_clipped_tokens(logps, old_logps, advantages, self.epsilon_low, self.epsilon_high)


class KLCovGRPOTrainer(GlobalCovarianceScope, EntropyGRPOTrainer):
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

    With `kl_cov_scope="global"` the covariance and the top-k are over every valid token of the optimizer step on every
    process instead (the paper's description; see [`GlobalCovarianceScope`]).

    Logged per step under `entropy/`: `kl_cov_penalty` (the loss term), `kl_cov_selected_share`, `kl_cov_selected_kl`
    (mean `|log p - log p_old|` over the selected tokens), `kl_cov_cov_mean`, `kl_cov_cov_min`, `kl_cov_cov_max`.
    """

    _tag_names = ["trl", "grpo", "trl-entropy", "kl-cov"]
    _name = "KL-Cov GRPO"
    _paper = PAPER_2505_22617
    config_class = KLCovGRPOConfig
    _output_suffix = "KLCov-GRPO"
    scope_field = "kl_cov_scope"

    def build_stateful_callbacks(self, args) -> None:
        # Called before GRPOTrainer.__init__: a bad configuration fails before any model is loaded.
        self.kl_cov = {name: config_option(args, KLCovGRPOConfig, name) for name in KL_COV_FIELDS}
        check_kl_cov_params(self.kl_cov["kl_cov_ratio"], self.kl_cov["kl_cov_coef"], prefix="kl_cov_")
        self.init_covariance_scope(args)
        if is_fully_on_policy(args):
            raise ValueError(
                on_policy_refusal(args, "KL-Cov's penalty") + " (e.g. `steps_per_generation = 2 * "
                "gradient_accumulation_steps`), or train with Clip-Cov (`ClipCovGRPOTrainer`), which acts on-policy."
            )

    def method_hyperparameters(self) -> dict[str, Any]:
        return dict(self.kl_cov)

    def select_tokens(self, cov, mask, exclude):
        return kl_cov_selection(cov, mask, self.kl_cov["kl_cov_ratio"])

    def extra_loss(self, per_token_logps, entropies, mask, inputs):
        old_logps = inputs.get("old_per_token_logps")
        if old_logps is None:
            # TRL leaves it out when it trains on a batch with the policy that sampled it: then p_old = p.
            old_logps = per_token_logps.detach()
        if self.step_window_active():
            cov, selected = self.window_entry(mask)
        else:
            cov = token_covariance(inputs["advantages"], per_token_logps, mask)
            selected = self.select_tokens(cov, mask, None)
        per_token = kl_cov_penalty(per_token_logps, old_logps, selected, self.kl_cov["kl_cov_coef"]) * mask
        num_valid = mask.sum()
        penalty = per_token.sum() / num_valid.clamp(min=1)
        distance = (per_token_logps.detach() - old_logps.detach()).abs()
        self.log_metric("kl_cov_penalty", penalty.detach(), 1.0)
        self.log_metric("kl_cov_selected_kl", (distance * selected).sum(), selected.sum())
        log_covariance_metrics(self, "kl_cov", cov, mask, selected)
        return penalty
