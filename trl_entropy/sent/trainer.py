# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

from ..batch_layout import is_fully_on_policy, on_policy_refusal  # noqa: F401  (re-exported: their home was here)
from ..hook.trainer import EntropyGRPOTrainer
from .component import PAPER_2512_04359, SENT_FIELDS, SENTKLPenalty  # noqa: F401  (re-exported)
from .config import SENTGRPOConfig


class SENTGRPOTrainer(EntropyGRPOTrainer):
    r"""
    GRPO with SENT's token side ([arXiv 2512.04359](https://huggingface.co/papers/2512.04359)):
    a KL penalty on the low-entropy tokens, twice as strong on those where advantage and log-prob covary most and
    half as strong on those where they covary least ([`~trl_entropy.functional.low_entropy_cov_kl`]). Train it on a
    [`SemanticEntropyCurriculum`] (with `shuffle_dataset=False`) for the whole method.

    In every loss pass the selection is made on the detached entropies, log-probs and advantages of the same forward
    as TRL's loss (of this process, or of all processes with `sent_cov_scope="global"`), and the loss gets
    `sum_t c_t KL_t / n_valid`, with gradient through the current log-probs only; TRL's loss is untouched.

    With `sent_kl_target="old"` (the authors') `KL_t = |log p_t - log p_old,t|`, which is zero with zero gradient when
    every update is on-policy: the trainer refuses that configuration and says how to make the term act. With
    `sent_kl_target="ref"`, `KL_t` is TRL's `k3` estimate against the reference model (needs `beta > 0`).

    A drop-in replacement for [`~trl.GRPOTrainer`]: same arguments. `args` may be a [`SENTGRPOConfig`] (built at its
    defaults when `args` is omitted: two optimizer steps per generation, the authors', so the KL acts) or any
    [`~trl.GRPOConfig`]; then the `sent_*` options take the defaults of [`SENTGRPOConfig`] but the batch settings stay
    TRL's, and a plain `GRPOConfig` at TRL's defaults (every update on-policy) is refused like any on-policy setting.

    Logged per step under `entropy/` (exact means over all processes): `sent_kl_penalty` (the loss term),
    `sent_high_share` and `sent_low_share` (shares of valid tokens constrained at `high_mult * c` and
    `low_mult * c`), `sent_low_entropy_share` (share of valid tokens in the low-entropy set), `sent_selected_kl`
    (mean KL estimate over the constrained tokens) and, with a curriculum, `curriculum_semantic_entropy` and
    `curriculum_stage` of the batch's prompts.
    """

    _tag_names = ["trl", "grpo", "trl-entropy", "sent"]
    _name = "SENT GRPO"
    _paper = PAPER_2512_04359
    config_class = SENTGRPOConfig
    _output_suffix = "SENT-GRPO"
    component_classes = (SENTKLPenalty,)

    @property
    def sent(self) -> dict:
        """The SENT options, as read from the config."""
        return self.get_component("sent_kl").options
