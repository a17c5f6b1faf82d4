# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""SENT's token side as a component: the low-entropy covariance KL (arXiv 2512.04359)."""

import textwrap
from typing import Any

import torch

from ..batch_layout import is_fully_on_policy, on_policy_refusal
from ..hook.component import LOSS_ORDER, Component
from .config import SENTGRPOConfig
from .functional import CovSelection, kl_estimate, low_entropy_cov_selection, selection_coefficients


PAPER_2512_04359 = {
    "title": "SENT: semantic-entropy curriculum and low-entropy covariance KL (arXiv 2512.04359)",
    "id": "2512.04359",
    # docstyle-ignore
    "citation": textwrap.dedent("""\
        @article{sent2025,
            title        = {{SENT: semantic and token entropy for LLM reasoning with RLVR}},
            note         = {title as given by this project: cite the arXiv entry},
            year         = 2025,
            eprint       = {arXiv:2512.04359},
        }"""),
}

SENT_FIELDS = tuple(name for name in SENTGRPOConfig.__dataclass_fields__ if name.startswith("sent_"))


class SENTKLPenalty(Component):
    r"""
    SENT's KL on the low-entropy tokens, stronger where advantage and log-prob covary most and weaker where they
    covary least ([`~trl_entropy.functional.low_entropy_cov_kl`]): a loss term. See [`SENTGRPOTrainer`].
    """

    name = "sent_kl"
    order = LOSS_ORDER + 20
    paper = PAPER_2512_04359
    config_class = SENTGRPOConfig
    fields = SENT_FIELDS

    def check_args(self, args: Any) -> None:
        if not self.options["sent_use_kl"]:
            return
        if self.options["sent_kl_target"] == "old" and is_fully_on_policy(args):
            raise ValueError(
                on_policy_refusal(args, "SENT's token KL with `sent_kl_target='old'`") + " (the authors: batch 256, "
                "mini-batch 128, i.e. "
                "`steps_per_generation = 2 * gradient_accumulation_steps`, SENTGRPOConfig's default when neither "
                "`steps_per_generation` nor `generation_batch_size` is set), or choose `sent_kl_target='ref'` (a KL to "
                "the reference model, which acts on-policy; needs `beta > 0`), or `sent_use_kl=False` (the "
                "curriculum alone)."
            )
        if self.options["sent_kl_target"] == "ref" and args.beta == 0:
            raise ValueError(
                "`sent_kl_target='ref'` measures the KL to the reference model, whose log-probs TRL computes only "
                "with `beta > 0`, got beta=0.0. Set `beta` > 0 (e.g. 0.001, the SENT GPU recipe; TRL then also adds "
                "its own k3 KL at that weight on every token), or use `sent_kl_target='old'` with off-policy updates."
            )

    def loss(self, ctx, per_token_logps, entropies, mask, inputs):
        options = self.options
        reference = options["sent_kl_target"] == "ref"
        target = inputs.get("ref_per_token_logps" if reference else "old_per_token_logps")
        estimator = "k3" if reference else "abs"
        if target is None:
            if reference and options["sent_use_kl"]:
                raise RuntimeError("`sent_kl_target='ref'` needs TRL's `ref_per_token_logps`: set `beta` > 0.")
            # TRL leaves `old_per_token_logps` out when it trains on a batch with the policy that sampled it: then
            # p_old = p (and a measurement-only run without a reference model measures 0).
            target = per_token_logps.detach()
        selection = self._selection(ctx, entropies.detach(), per_token_logps.detach(), inputs["advantages"], mask)
        coefficients = selection_coefficients(
            selection, options["sent_kl_coef"], options["sent_high_cov_mult"], options["sent_low_cov_mult"]
        )
        estimate = kl_estimate(per_token_logps, target, estimator)
        per_token = coefficients.to(estimate.dtype) * estimate * mask
        num_valid = mask.sum()
        penalty = per_token.sum() / num_valid.clamp(min=1)

        constrained = selection.high_cov | selection.low_cov
        ctx.record_token_values("sent_selected", constrained.float(), kind="selection")
        ctx.log_metric("sent_kl_penalty", penalty.detach(), 1.0)
        ctx.log_metric("sent_high_share", selection.high_cov.sum(), num_valid)
        ctx.log_metric("sent_low_share", selection.low_cov.sum(), num_valid)
        ctx.log_metric("sent_low_entropy_share", selection.low_entropy.sum(), num_valid)
        ctx.log_metric("sent_selected_kl", (estimate.detach() * constrained).sum(), constrained.sum())
        return penalty if options["sent_use_kl"] else None

    def _selection(self, ctx, entropies, logps, advantages, mask) -> CovSelection:
        """The selection of this process's tokens: made on its own micro-batch (`local`), or on the micro-batches of
        all processes concatenated (`global`), then cut back to this process's rows."""
        share, ratio = self.options["sent_low_entropy_share"], self.options["sent_cov_ratio"]
        if self.options["sent_cov_scope"] == "local" or ctx.num_processes == 1:
            return low_entropy_cov_selection(entropies, logps, advantages, mask, share, ratio)
        batch_size, length = entropies.shape
        if advantages.dim() == 1:
            advantages = advantages.unsqueeze(1)
        stacked = torch.stack(
            [entropies.float(), logps.float(), advantages.float().expand(batch_size, length), mask.float()]
        )  # (4, B, T)
        # Processes may hold completions of other lengths (and, in principle, other counts): pad with masked tokens.
        padded = ctx.pad_across_processes(stacked, dim=2, pad_index=0)
        padded = ctx.pad_across_processes(padded, dim=1, pad_index=0)
        _, max_batch, max_length = padded.shape
        gathered = ctx.gather(padded.unsqueeze(0))  # (P, 4, B_max, T_max)
        every = gathered.transpose(0, 1).reshape(4, -1, max_length)
        selection = low_entropy_cov_selection(every[0], every[1], every[2], every[3], share, ratio)
        start = ctx.process_index * max_batch
        return CovSelection(*(s[start : start + batch_size, :length] for s in selection))
