# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

from ..hook.trainer import EntropyGRPOTrainer
from .component import (  # noqa: F401  (re-exported: their home was this module)
    CLIP_COV_FIELDS,
    KL_COV_FIELDS,
    PAPER_2505_22617,
    ClipCovShaper,
    CovarianceScope,
    KLCovPenalty,
    log_covariance_metrics,
)
from .config import ClipCovGRPOConfig, KLCovGRPOConfig


class ClipCovGRPOTrainer(EntropyGRPOTrainer):
    r"""
    GRPO with Clip-Cov ([The Entropy Mechanism of Reinforcement Learning for Reasoning Language
    Models](https://huggingface.co/papers/2505.22617), Cui et al.).

    In every loss pass, on the detached log-probs of the same forward as TRL's loss, the token covariance
    `cov_t = (A_t - mean A)(logp_t - mean logp)` is taken over the micro-batch's valid tokens; among the tokens with
    `clip_cov_lb < cov_t < clip_cov_ub`, `max(1, floor(clip_cov_ratio * n_valid))` drawn at random get advantage `0`,
    so TRL's loss gives them no policy gradient (they still count in its normaliser, as in the authors' code). A
    shaping method ([`~trl_entropy.covariance.component.ClipCovShaper`]): TRL's loss is untouched.

    The draws come from a CPU `torch.Generator` seeded with `seed + process_index`, so a run is reproducible (a
    resumed run restarts the generator).

    With `clip_cov_scope="global"` the covariance and the draw are over every valid token of the optimizer step on
    every process instead (the paper's description; one extra forward without gradient per micro-batch, see
    [`~trl_entropy.covariance.component.CovarianceScope`]).

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
    component_classes = (ClipCovShaper,)


class KLCovGRPOTrainer(EntropyGRPOTrainer):
    r"""
    GRPO with KL-Cov ([The Entropy Mechanism of Reinforcement Learning for Reasoning Language
    Models](https://huggingface.co/papers/2505.22617), Cui et al.).

    In every loss pass the `max(1, floor(kl_cov_ratio * n_valid))` valid tokens of the micro-batch with the largest
    covariance `cov_t = (A_t - mean A)(logp_t - mean logp)` (detached) get the penalty
    `kl_cov_coef * |log p_t - log p_old,t|`; the loss gets its sum divided by the number of valid tokens, with gradient
    through the current log-probs only ([`~trl_entropy.covariance.component.KLCovPenalty`], a loss term). TRL's loss is untouched (the authors'
    code also drops PPO's clipping on every token; see `docs/methods/clip_kl_cov.md`).

    On-policy `log p_old = log p` and the term does nothing: the trainer refuses that configuration, as
    [`SENTGRPOTrainer`] does, and says how to make it act.

    With `kl_cov_scope="global"` the covariance and the top-k are over every valid token of the optimizer step on every
    process instead (the paper's description; see [`~trl_entropy.covariance.component.CovarianceScope`]).

    Logged per step under `entropy/`: `kl_cov_penalty` (the loss term), `kl_cov_selected_share`, `kl_cov_selected_kl`
    (mean `|log p - log p_old|` over the selected tokens), `kl_cov_cov_mean`, `kl_cov_cov_min`, `kl_cov_cov_max`.
    """

    _tag_names = ["trl", "grpo", "trl-entropy", "kl-cov"]
    _name = "KL-Cov GRPO"
    _paper = PAPER_2505_22617
    config_class = KLCovGRPOConfig
    _output_suffix = "KLCov-GRPO"
    component_classes = (KLCovPenalty,)

    @property
    def kl_cov(self) -> dict:
        """The KL-Cov options, as read from the config."""
        return self.get_component("kl_cov").options
