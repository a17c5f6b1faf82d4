# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.

import textwrap
from typing import Any

import torch

from ..entropy_grpo_trainer import EntropyGRPOTrainer
from ..functional.sent_kl import (
    CovSelection,
    check_sent_kl_params,
    kl_estimate,
    low_entropy_cov_selection,
    selection_coefficients,
)
from ..shaper import config_option
from .config import SENT_KL_FIELD_NAMES, SENTGRPOConfig, check_sent_options


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


def is_fully_on_policy(args) -> bool:
    """Whether TRL trains on every generated batch with the policy that sampled it (then it computes no
    `old_per_token_logps`, and `log p_old = log p`): one iteration, and generation aligned with the optimizer steps
    (`gradient_accumulation_steps` a multiple of `steps_per_generation * num_iterations`, TRL 1.16's own test)."""
    return args.gradient_accumulation_steps % (args.steps_per_generation * args.num_iterations) == 0


def on_policy_refusal(args, term: str) -> str:
    """The start of the error that refuses a `|log p - log p_old|` term (named `term`) under settings where every
    update is on-policy ([`is_fully_on_policy`]): why it would do nothing, and the two ways to make it act."""
    return (
        f"{term} is |log p - log p_old|, and these settings make every update on-policy "
        f"(num_iterations={args.num_iterations}, steps_per_generation={args.steps_per_generation}, "
        f"gradient_accumulation_steps={args.gradient_accumulation_steps}): p_old = p, so the penalty is 0 with no "
        "gradient and would do nothing. Make it act with `num_iterations > 1` or `steps_per_generation` > "
        "`gradient_accumulation_steps`"
    )


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

    def build_stateful_callbacks(self, args) -> None:
        # Called before GRPOTrainer.__init__: a bad configuration fails before any model is loaded.
        self.sent = {name: config_option(args, SENTGRPOConfig, name) for name in SENT_FIELDS}
        check_sent_kl_params(
            **{parameter: self.sent[f"sent_{field}"] for parameter, field in SENT_KL_FIELD_NAMES.items()},
            prefix="sent_",
            names=SENT_KL_FIELD_NAMES,
        )
        check_sent_options(self.sent["sent_kl_target"], self.sent["sent_cov_scope"])
        if not self.sent["sent_use_kl"]:
            return
        if self.sent["sent_kl_target"] == "old" and is_fully_on_policy(args):
            raise ValueError(
                on_policy_refusal(args, "SENT's token KL with `sent_kl_target='old'`") + " (the authors: batch 256, "
                "mini-batch 128, i.e. "
                "`steps_per_generation = 2 * gradient_accumulation_steps`, SENTGRPOConfig's default when neither "
                "`steps_per_generation` nor `generation_batch_size` is set), or choose `sent_kl_target='ref'` (a KL to "
                "the reference model, which acts on-policy; needs `beta > 0`), or `sent_use_kl=False` (the "
                "curriculum alone)."
            )
        if self.sent["sent_kl_target"] == "ref" and args.beta == 0:
            raise ValueError(
                "`sent_kl_target='ref'` measures the KL to the reference model, whose log-probs TRL computes only "
                "with `beta > 0`, got beta=0.0. Set `beta` > 0 (e.g. 0.001, the SENT GPU recipe; TRL then also adds "
                "its own k3 KL at that weight on every token), or use `sent_kl_target='old'` with off-policy updates."
            )

    def method_hyperparameters(self) -> dict[str, Any]:
        return dict(self.sent)

    def extra_loss(self, per_token_logps, entropies, mask, inputs):
        options = self.sent
        reference = options["sent_kl_target"] == "ref"
        target = inputs.get("ref_per_token_logps" if reference else "old_per_token_logps")
        estimator = "k3" if reference else "abs"
        if target is None:
            if reference and options["sent_use_kl"]:
                raise RuntimeError("`sent_kl_target='ref'` needs TRL's `ref_per_token_logps`: set `beta` > 0.")
            # TRL leaves `old_per_token_logps` out when it trains on a batch with the policy that sampled it: then
            # p_old = p (and a measurement-only run without a reference model measures 0).
            target = per_token_logps.detach()
        selection = self._selection(entropies.detach(), per_token_logps.detach(), inputs["advantages"], mask)
        coefficients = selection_coefficients(
            selection, options["sent_kl_coef"], options["sent_high_cov_mult"], options["sent_low_cov_mult"]
        )
        estimate = kl_estimate(per_token_logps, target, estimator)
        per_token = coefficients.to(estimate.dtype) * estimate * mask
        num_valid = mask.sum()
        penalty = per_token.sum() / num_valid.clamp(min=1)

        constrained = selection.high_cov | selection.low_cov
        self.record_token_values("sent_selected", constrained.float(), kind="selection")
        self.log_metric("sent_kl_penalty", penalty.detach(), 1.0)
        self.log_metric("sent_high_share", selection.high_cov.sum(), num_valid)
        self.log_metric("sent_low_share", selection.low_cov.sum(), num_valid)
        self.log_metric("sent_low_entropy_share", selection.low_entropy.sum(), num_valid)
        self.log_metric("sent_selected_kl", (estimate.detach() * constrained).sum(), constrained.sum())
        return penalty if options["sent_use_kl"] else None

    def _selection(self, entropies, logps, advantages, mask) -> CovSelection:
        """The selection of this process's tokens: made on its own micro-batch (`local`), or on the micro-batches of
        all processes concatenated (`global`), then cut back to this process's rows."""
        share, ratio = self.sent["sent_low_entropy_share"], self.sent["sent_cov_ratio"]
        accelerator = self.accelerator
        if self.sent["sent_cov_scope"] == "local" or accelerator.num_processes == 1:
            return low_entropy_cov_selection(entropies, logps, advantages, mask, share, ratio)
        batch_size, length = entropies.shape
        if advantages.dim() == 1:
            advantages = advantages.unsqueeze(1)
        stacked = torch.stack(
            [entropies.float(), logps.float(), advantages.float().expand(batch_size, length), mask.float()]
        )  # (4, B, T)
        # Processes may hold completions of other lengths (and, in principle, other counts): pad with masked tokens.
        padded = accelerator.pad_across_processes(stacked, dim=2, pad_index=0)
        padded = accelerator.pad_across_processes(padded, dim=1, pad_index=0)
        _, max_batch, max_length = padded.shape
        gathered = accelerator.gather(padded.unsqueeze(0))  # (P, 4, B_max, T_max)
        every = gathered.transpose(0, 1).reshape(4, -1, max_length)
        selection = low_entropy_cov_selection(every[0], every[1], every[2], every[3], share, ratio)
        start = accelerator.process_index * max_batch
        return CovSelection(*(s[start : start + batch_size, :length] for s in selection))
