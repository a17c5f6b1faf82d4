# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`EntropyGRPOTrainer`: the base of every trl-entropy GRPO method.

TRL 1.16's `GRPOTrainer._compute_loss` runs the policy forward through `_get_per_token_logps_and_entropies` and only
afterwards reads `inputs["advantages"]`. This module uses exactly that order and nothing else of the loss code:

1. `_compute_loss` hands TRL a *shallow copy* of the buffered batch, so nothing written into it survives the call;
2. `_get_per_token_logps_and_entropies` is intercepted on its first call inside that loss pass, which must be the
   policy forward (`compute_entropy=True` on the model being trained; anything else raises): the per-token
   log-probs and entropies of that very forward are given, detached, to `shape_advantages`, and its result replaces
   `advantages` in the copy before TRL reads it;
3. after TRL's loss is computed, `extra_loss` sees the same log-probs and entropies *with* gradient and its value is
   added to the loss.

TRL's loss code is never copied, so every `loss_type`, importance-sampling level, clipping variant, off-policy mask,
KL term and metric of TRL keeps working, and TRL's fused LM head stays on (no `(B, T, V)` logits are materialised).
"""

import contextlib
import inspect
import json
import math
import os
import re
import shutil
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, HubStrategy
from trl import GRPOConfig, GRPOTrainer
from trl.trainer.utils import get_config_model_id

from .analysis.batch import batch_analysis_sums
from .analysis.callback import ANALYSIS_METRIC_PREFIX, EntropyAnalysisCallback
from .analysis.tokens import ALPHA_LOSS_TYPES, clipped_advantage_factor, gradient_norm_proxy, token_statistics
from .hook.policy import (  # noqa: F401  (re-exported: their home was this module)
    capture_final_hidden_states,
    completion_hidden_states,
    logit_transform,
    loss_mask,
    policy_modules,
    with_full_lm_head,
)
from .model_card import (
    CARD_FILENAME,
    CARD_INPUTS_FILENAME,
    CURVES_FILENAME,
    METHOD_CURVES_FILENAME,
    describe_base_model,
    write_model_card,
)
from .position_metrics import (
    POSITION_LABELS_KEY,
    TASK_METRIC_PREFIX,
    TOKEN_VALUE_KINDS,
    PositionMetrics,
    position_metric_sums,
)
from .quantization import disable_cpu_inference_repacking
from .shaper import AdvantageShaper
from .stage_detector import StageDetector
from .token_entropy import TokenEntropyRecorder


METRIC_PREFIX = "entropy/"
# Batch key of the weighted reward of each completion, added for a `TokenEntropyRecorder` only.
COMPLETION_REWARDS_KEY = "trl_entropy_completion_rewards"
# GRPOTrainer.__init__'s parameters after (self, model, reward_funcs, args), in order.
_GRPO_INIT_PARAMETERS_AFTER_ARGS = tuple(inspect.signature(GRPOTrainer.__init__).parameters)[4:]
# TRL's forward, whose arguments identify the policy forward of a loss pass (`compute_entropy=True`).
_LOGPS_SIGNATURE = inspect.signature(GRPOTrainer._get_per_token_logps_and_entropies)


@dataclass
class _LossPass:
    """State of one call of `_compute_loss`; lives only for that call."""

    inputs: dict[str, Any]
    # the model `_compute_loss` was given (the trained model, possibly wrapped); None: `self.model`
    model: Any = None
    forward_seen: bool = False
    per_token_logps: torch.Tensor | None = None
    entropies: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    # final hidden states of the completion positions, (B, T, H), detached; only with `capture_hidden_states`
    hidden_states: torch.Tensor | None = None
    # name -> (sum, count) of this micro-batch; reduced across processes once, at the end of the pass
    metrics: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    # name -> ((B, T) tensor, kind) published by the method with `record_token_values`, for the position metrics
    token_values: dict[str, tuple[torch.Tensor, str]] = field(default_factory=dict)


class EntropyGRPOTrainer(GRPOTrainer):
    r"""
    [`~trl.GRPOTrainer`] with two hooks for entropy methods; with neither overridden it trains exactly like
    [`~trl.GRPOTrainer`].

    Subclasses override one or both of:

    - [`~EntropyGRPOTrainer.shape_advantages`]: turn TRL's group advantages into token-level advantages, using the
      per-token log-probs and entropies of the same forward pass (detached).
    - [`~EntropyGRPOTrainer.extra_loss`]: a scalar added to TRL's loss that sees per-token entropies and log-probs
      with gradient.

    and report per-step statistics with [`~EntropyGRPOTrainer.log_metric`]; they are logged under the `entropy/`
    prefix through TRL's metric machinery and are exact means over all tokens of all processes.

    The buffered generation batch is never modified: with `num_iterations > 1`, or `steps_per_generation` larger than
    `gradient_accumulation_steps`, TRL feeds the same batch to several optimizer steps, and each of them shapes TRL's
    original advantages afresh, with the entropies of the policy at that step. Shaping never compounds.

    Accepts every argument of [`~trl.GRPOTrainer`] (including `peft_config` and `quantization_config`), and any
    [`~trl.GRPOConfig`].
    """

    _tag_names = ["trl", "grpo", "trl-entropy"]
    _name = "GRPO (trl-entropy)"
    # Citation of the method, shown in the model card; subclasses replace it with their paper.
    _paper = dict(GRPOTrainer._paper)
    # Advantage shapers applied, in this order, by the default `shape_advantages`.
    shaper_classes: tuple[type[AdvantageShaper], ...] = ()
    # Config built when no `args` are given, with `output_dir` "<model name>-<_output_suffix>".
    config_class: type[GRPOConfig] = GRPOConfig
    _output_suffix = "GRPO"
    # Whether the loss pass keeps the policy's final hidden states for the hooks (see `loss_pass_hidden_states`).
    capture_hidden_states: bool = False
    # Attributes holding stateful callbacks (`ExportableState`) that are always restored on resume and reset by a
    # `train()` from scratch; subclasses append theirs.
    _stateful_callback_attributes: tuple[str, ...] = ("stage_detector",)

    def __init__(self, model, reward_funcs=None, args=None, *more_args, **kwargs):
        # Same signature as GRPOTrainer: name any further positional arguments so `callbacks` can be extended.
        kwargs.update(zip(_GRPO_INIT_PARAMETERS_AFTER_ARGS, more_args, strict=False))
        callbacks = kwargs.pop("callbacks", None)
        if args is None:
            model_name = model if isinstance(model, str) else get_config_model_id(model.config)
            args = self.config_class(f"{model_name.split('/')[-1]}-{self._output_suffix}")
        # Imported here: `trl_entropy.sent` imports this module.
        from .sent.curriculum import SemanticEntropyCurriculum

        if isinstance(kwargs.get("train_dataset"), SemanticEntropyCurriculum):
            SemanticEntropyCurriculum.check_training_args(args)  # a reshuffle would undo the curriculum
        self._loss_pass: _LossPass | None = None
        # mode -> metric name -> [sum, count] over the current logging window, across processes: `log` reports their
        # ratio (TRL's own `log` would average the per-pass means, unweighted).
        self._method_metric_window: dict[str, dict[str, list[float]]] = {"train": {}, "eval": {}}
        self.advantage_shapers = self.build_shapers(args)
        # Watches reward and entropy at every optimizer step and declares the plateau (arXiv 2508.02260); a
        # stateful callback, so the Trainer saves it in `trainer_state.json` and restores it on resume.
        self.stage_detector = StageDetector(**stage_detector_kwargs(args))
        self.build_stateful_callbacks(args)
        own = [getattr(self, name) for name in self._stateful_callback_attributes]
        callbacks = [*(callbacks or []), *own]
        super().__init__(model, reward_funcs, args=args, callbacks=callbacks, **kwargs)
        # A 4-bit policy must not be repacked into bitsandbytes' inference-only CPU layout by any eval-mode forward.
        disable_cpu_inference_repacking(self.model)

    def build_stateful_callbacks(self, args) -> None:
        """Create the stateful callbacks a subclass lists in `_stateful_callback_attributes` (besides the stage
        detector), as attributes of that name. Called before `GRPOTrainer.__init__`."""

    def build_shapers(self, args) -> list[AdvantageShaper]:
        """The shapers of this trainer; by default one of each class in `shaper_classes`."""
        return [shaper_class(args) for shaper_class in self.shaper_classes]

    # ------------------------------------------------------------------------------------------------------------
    # Hooks for subclasses
    # ------------------------------------------------------------------------------------------------------------

    def shape_advantages(
        self,
        advantages: torch.Tensor,
        per_token_logps: torch.Tensor,
        entropies: torch.Tensor,
        mask: torch.Tensor,
        inputs: dict[str, Any],
    ) -> torch.Tensor | None:
        r"""
        Turn TRL's advantages into the advantages the loss uses. Called once per loss pass (micro-batch), after the
        forward and before TRL reads the advantages. The default keeps TRL's advantages.

        Args:
            advantages (`torch.Tensor`):
                TRL's advantages, `(B,)` (group-normalised, one per completion) or `(B, T)`. Never modify in place.
            per_token_logps (`torch.Tensor`):
                Log-probabilities of the completion tokens under the current policy, `(B, T)`, detached.
            entropies (`torch.Tensor`):
                Full-vocabulary entropies (nats) of the current policy at each completion position, `(B, T)`,
                detached.
            mask (`torch.Tensor`):
                Float mask of the valid completion tokens, `(B, T)` (TRL's completion mask times its tool mask).
            inputs (`dict[str, Any]`):
                The batch as TRL built it (a shallow copy), e.g. `old_per_token_logps` when TRL computed them.

        Returns:
            `torch.Tensor` or `None`: New advantages of shape `(B, T)` or `(B,)`, or `None` to keep TRL's.
        """
        if not self.advantage_shapers:
            return None
        for shaper in self.advantage_shapers:
            advantages = shaper.shape(self, advantages, per_token_logps, entropies, mask, inputs)
        return advantages

    def extra_loss(
        self,
        per_token_logps: torch.Tensor,
        entropies: torch.Tensor,
        mask: torch.Tensor,
        inputs: dict[str, Any],
    ) -> torch.Tensor | None:
        r"""
        A scalar loss term added to TRL's loss. Called once per loss pass (micro-batch), after TRL's loss.

        Return the term for this micro-batch as a mean (not a sum): during training it is divided by the number of
        gradient-accumulation steps, the same convention as TRL's own entropy bonus, so its weight does not depend on
        how the batch is split.

        Args:
            per_token_logps (`torch.Tensor`):
                Log-probabilities of the completion tokens, `(B, T)`, with gradient.
            entropies (`torch.Tensor`):
                Per-token entropies, `(B, T)`, with gradient.
            mask (`torch.Tensor`):
                Float mask of the valid completion tokens, `(B, T)`.
            inputs (`dict[str, Any]`):
                The batch as TRL built it (a shallow copy).

        Returns:
            `torch.Tensor` or `None`: A scalar to add to the loss, or `None`.
        """
        return None

    def log_metric(
        self, name: str, total: torch.Tensor | float, count: torch.Tensor | float, prefix: str = METRIC_PREFIX
    ) -> None:
        r"""
        Record a statistic of the current micro-batch as a `(sum, count)` pair; logged as `<prefix><name>`.

        All pairs of a micro-batch are summed across processes in one collective at the end of the loss pass and
        summed again over the loss passes of the logging window, so the logged value is the exact mean over every
        counted item of every process and every micro-batch since the last log (processes and micro-batches with more
        tokens weigh more). Every process must record the same names in every pass (record a zero count when there is
        nothing to count); a mean over a zero total count is logged as NaN, which TRL leaves out of its averages.

        Args:
            name (`str`):
                Metric name without the `entropy/` prefix.
            total (`torch.Tensor` or `float`):
                Sum of the statistic over the counted items of this process.
            count (`torch.Tensor` or `float`):
                Number of counted items on this process.
            prefix (`str`, *optional*, defaults to `"entropy/"`):
                Prefix of the logged name (e.g. `"ppo/"` for the critic's statistics).
        """
        if self._loss_pass is None:
            raise RuntimeError("`log_metric` can only be called from `shape_advantages` or `extra_loss`.")
        device = self.accelerator.device
        self._loss_pass.metrics[prefix + name] = (
            torch.as_tensor(total, dtype=torch.float32, device=device).detach().reshape(()),
            torch.as_tensor(count, dtype=torch.float32, device=device).detach().reshape(()),
        )

    def record_token_values(self, name: str, values: torch.Tensor, kind: str = "value") -> None:
        r"""
        Publish a per-token tensor of the current micro-batch for position-level diagnostics. It is kept (detached)
        for this loss pass only and used only when a [`~trl_entropy.PositionMetrics`] callback is attached, which
        then logs its mean at decision and forced positions (`kind="value"`) or the precision and recall of the
        positions it selects (`kind="selection"`, selected where the value is at least 0.5).

        Args:
            name (`str`):
                Name of the tensor in the logged metrics, e.g. `"paec_mask"`.
            values (`torch.Tensor`):
                `(B, T)` tensor aligned with the completion tokens.
            kind (`str`, *optional*, defaults to `"value"`):
                `"value"` or `"selection"`.
        """
        if self._loss_pass is None:
            raise RuntimeError("`record_token_values` can only be called from `shape_advantages` or `extra_loss`.")
        if kind not in TOKEN_VALUE_KINDS:
            raise ValueError(f"`kind` must be one of {TOKEN_VALUE_KINDS}, got {kind!r}.")
        self._loss_pass.token_values[name] = (values.detach(), kind)

    def loss_pass_hidden_states(self) -> torch.Tensor:
        r"""
        Final hidden states (the LM head's input) of the completion positions in the current loss pass, `(B, T, H)`,
        detached; the same forward as the log-probs and entropies the hooks receive. Only for subclasses that set
        `capture_hidden_states = True`, from `shape_advantages` or `extra_loss`.

        They are an activation the LM head's backward keeps anyway, so holding a reference costs no memory.
        """
        loss_pass = self._loss_pass
        if loss_pass is None or loss_pass.hidden_states is None:
            raise RuntimeError(
                "Hidden states are only available inside a loss pass of a trainer with `capture_hidden_states = True`."
            )
        return loss_pass.hidden_states

    def card_method_info(self) -> dict[str, Any]:
        """
        What the model card says about the method, as plain data: `method` (its display name), `papers` (the papers
        to cite, each a dict with `title`, `id`, `citation`), `method_hyperparameters`, `stage_detector` (`"used"`
        when the method acts on the stage detector, `"logged"` when it only logs it, `None` without one) and
        `plateau_step`.
        """
        papers = list({shaper.paper["id"]: shaper.paper for shaper in self.advantage_shapers if shaper.paper}.values())
        own_paper = getattr(self, "_paper", None) or {}
        papers = papers or ([own_paper] if own_paper else [])
        hyperparameters = dict(self.method_hyperparameters())
        card_rows = getattr(getattr(self, "train_dataset", None), "card_rows", None)
        if callable(card_rows):  # a curriculum (SENT's data side) describes itself
            hyperparameters.update(card_rows())
        uses_detector = any(getattr(shaper, "uses_stage_detector", False) for shaper in self.advantage_shapers)
        detector = getattr(self, "stage_detector", None)
        return {
            "method": getattr(self, "_name", type(self).__name__),
            "papers": papers,
            "method_hyperparameters": hyperparameters,
            "stage_detector": None if detector is None else ("used" if uses_detector else "logged"),
            "plateau_step": None if detector is None else detector.plateau_step,
        }

    def method_hyperparameters(self) -> dict[str, Any]:
        """Values of this method's hyperparameters (those of every shaper, in order), for the model card."""
        values = {}
        if len(self.advantage_shapers) > 1:
            values["shaping_methods"] = [shaper.name for shaper in self.advantage_shapers]
        for shaper in self.advantage_shapers:
            values.update(shaper.hyperparameters())
        return values

    # ------------------------------------------------------------------------------------------------------------
    # Wiring into TRL
    # ------------------------------------------------------------------------------------------------------------

    def _compute_loss(self, model, inputs):
        # A shallow copy: TRL reuses the buffered batch across iterations and accumulation steps, and shaped
        # advantages written into the copy must not reach the next pass.
        with self._open_loss_pass(inputs, model) as loss_pass:
            loss = super()._compute_loss(model, loss_pass.inputs)
            if not loss_pass.forward_seen:
                raise RuntimeError(
                    "GRPOTrainer._compute_loss did not call _get_per_token_logps_and_entropies with entropies; "
                    "trl-entropy supports trl==1.16.0 only."
                )
            extra = self.extra_loss(loss_pass.per_token_logps, loss_pass.entropies, loss_pass.mask, loss_pass.inputs)
            if extra is not None:
                if self.model.training:
                    extra = extra / self.current_gradient_accumulation_steps
                loss = loss + extra
            self._log_position_metrics(loss_pass)
        return loss

    @contextlib.contextmanager
    def _open_loss_pass(self, inputs: dict[str, Any], model=None):
        """The state of one loss pass (on a shallow copy of `inputs`, for the trained `model`), open for `log_metric`
        while the block runs; its metrics are reduced across processes and logged when the block completes."""
        loss_pass = _LossPass(inputs=dict(inputs), model=model)
        self._loss_pass = loss_pass
        try:
            yield loss_pass
            self._flush_method_metrics(loss_pass)
        finally:
            self._loss_pass = None

    def _get_per_token_logps_and_entropies(self, model, *args, **kwargs):
        loss_pass = self._loss_pass
        # Only the first forward of a loss pass is the policy forward; the generation-time forwards (old and
        # reference log-probs) run outside `_compute_loss` and are left alone.
        policy_forward = loss_pass is not None and not loss_pass.forward_seen
        if policy_forward:
            self._check_policy_forward(loss_pass, model, args, kwargs)
        analysis = self._analysis_callback_for_step() if policy_forward else None
        capture = policy_forward and (self.capture_hidden_states or (analysis is not None and analysis.gradient_norm))
        with capture_final_hidden_states(model, capture) as captured:
            per_token_logps, entropies, aux_loss = super()._get_per_token_logps_and_entropies(model, *args, **kwargs)
        if policy_forward and entropies is not None:
            loss_pass.forward_seen = True
            inputs = loss_pass.inputs
            if capture:
                loss_pass.hidden_states = completion_hidden_states(captured, per_token_logps.size(1), self, model)
            mask = loss_mask(inputs).to(per_token_logps.dtype)
            loss_pass.per_token_logps, loss_pass.entropies, loss_pass.mask = per_token_logps, entropies, mask
            self._feed_token_entropy_recorders(loss_pass)  # before shaping: records TRL's advantages
            advantages = inputs["advantages"]
            shaped = self.shape_advantages(advantages, per_token_logps.detach(), entropies.detach(), mask, inputs)
            if shaped is not None:
                if shaped.shape not in (advantages.shape, per_token_logps.shape):
                    raise ValueError(
                        f"`shape_advantages` must return a tensor of shape {tuple(advantages.shape)} or "
                        f"{tuple(per_token_logps.shape)}, got {tuple(shaped.shape)}."
                    )
                inputs["advantages"] = shaped.detach()
            if analysis is not None:
                self._feed_analysis(analysis, loss_pass)  # after shaping: the advantages the loss uses
        return per_token_logps, entropies, aux_loss

    def _check_policy_forward(self, loss_pass: _LossPass, model, args, kwargs) -> None:
        """Raise unless this call, the first of the loss pass, is the policy forward TRL 1.16's `_compute_loss` makes:
        `compute_entropy=True` on the model being trained. A TRL that ran another forward first (a reference model,
        log-probs without entropies) would otherwise have its tensors shaped and penalised as the policy's."""
        try:
            bound = _LOGPS_SIGNATURE.bind(self, model, *args, **kwargs)
            bound.apply_defaults()
            compute_entropy = bound.arguments["compute_entropy"]
        except (TypeError, KeyError):
            compute_entropy = kwargs.get("compute_entropy", False)
        trained = loss_pass.model if loss_pass.model is not None else self.model
        unwrap = self.accelerator.unwrap_model
        is_trained = model is trained or model is self.model or unwrap(model) is unwrap(trained)
        if compute_entropy and is_trained:
            return
        seen = "the trained model" if is_trained else f"another model ({type(unwrap(model)).__name__})"
        raise RuntimeError(
            f"{type(self).__name__} takes the first call of `_get_per_token_logps_and_entropies` inside "
            "`GRPOTrainer._compute_loss` for the policy forward, expected with compute_entropy=True on the trained "
            f"model ({type(unwrap(trained)).__name__}, the model passed to compute_loss), but saw "
            f"compute_entropy={bool(compute_entropy)} on {seen}: this TRL runs another forward first. trl-entropy "
            "supports trl==1.16.0 only."
        )

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        # Gathered over all processes; kept only for the token recorder's per-completion rewards below.
        self._last_rewards_per_func = rewards_per_func
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        self._last_rewards_per_func = None
        batch = super()._generate_and_score_completions(inputs)
        if self._last_rewards_per_func is not None and (
            self._has_token_entropy_recorder() or self._analysis_callback() is not None
        ):
            # The weighted reward of each local completion, as TRL sums it for the logged `reward`; TRL's shuffle and
            # split carry it along with the other (B, ...) tensors. NaN where no reward function scored a completion.
            per_func = self._last_rewards_per_func
            weights = self.reward_weights.to(per_func.device).unsqueeze(0)
            rewards = (per_func * weights).nansum(dim=1)
            rewards[per_func.isnan().all(dim=1)] = torch.nan
            num_local = batch["completion_ids"].size(0)
            start = self.accelerator.process_index * num_local
            batch[COMPLETION_REWARDS_KEY] = rewards[start : start + num_local]
        self._last_rewards_per_func = None
        position_metrics = self._position_metrics_callback()
        if position_metrics is not None:
            # Labelled once per generation, in the rows' dataset order; TRL's shuffle and split carry the labels along.
            batch[POSITION_LABELS_KEY] = position_metrics.label(inputs, batch["completion_ids"], self.processing_class)
        mode = "train" if self.model.training else "eval"
        self._log_curriculum_batch(inputs, mode)
        for shaper in self.advantage_shapers:
            shaper.on_generation(self, batch, mode)
        return batch

    def training_step(self, model, inputs, num_items_in_batch):
        loss = super().training_step(model, inputs, num_items_in_batch)
        # TRL counts micro-batches in `_step`; at the last one of an optimizer step, feed the stage detector the
        # step's reward (logged once per generation) and its mean entropy (logged once per micro-batch).
        accumulation = self.current_gradient_accumulation_steps
        metrics = self._metrics["train"]
        if self._step % accumulation == 0 and metrics.get("reward") and metrics.get("entropy"):
            entropy = metrics["entropy"][-accumulation:]
            self.stage_detector.update(self.state.global_step + 1, metrics["reward"][-1], sum(entropy) / len(entropy))
        analysis = self._analysis_callback()
        if (
            self._step % accumulation == 0
            and analysis is not None
            and analysis.accumulating(self.state.global_step + 1)
        ):
            # once per analysed optimizer step, over all its micro-batches and processes
            for name, value in analysis.step_metrics().items():
                metrics[ANALYSIS_METRIC_PREFIX + name].append(value)
        return loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        mode = "train" if self.model.training else "eval"
        # The method metrics of the window as one exact mean (TRL averages each list; a one-element list is exact).
        for name, (total, count) in self._method_metric_window[mode].items():
            self._metrics[mode][name] = [total / count if count > 0 else math.nan]
        self._method_metric_window[mode] = {}
        if self.model.training and "reward" in self._metrics["train"]:
            self._metrics["train"][METRIC_PREFIX + "stage"].append(float(self.stage_detector.in_plateau))
            if self.stage_detector.plateau_step is not None:
                self._metrics["train"][METRIC_PREFIX + "plateau_step"].append(float(self.stage_detector.plateau_step))
        super().log(logs, start_time)

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        if not resume_from_checkpoint:
            # A run from scratch (also a second `train()` call) restarts at step 0: so do the stateful callbacks (the
            # detector otherwise would refuse observations at steps it has already seen).
            for attribute in self._stateful_callback_attributes:
                callback = getattr(self, attribute)
                fresh = type(callback)(**callback.state()["args"])
                for name, value in fresh.state()["attributes"].items():
                    setattr(callback, name, value)
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        # transformers restores stateful callbacks only with `restore_callback_states_from_checkpoint=True`; ours
        # (the stage detector decides when schedules start, PAEC's anchor sets its floor) are always restored.
        state_path = None if checkpoint is None else os.path.join(checkpoint, TRAINER_STATE_NAME)
        saved_states = {}
        if state_path is not None and os.path.isfile(state_path):
            with open(state_path) as f:
                saved_states = json.load(f).get("stateful_callbacks", {})
        for attribute in self._stateful_callback_attributes:
            callback_class = type(getattr(self, attribute))
            # With that flag transformers has already swapped in a new instance: keep feeding the one it will save.
            callback = next(cb for cb in self.callback_handler.callbacks if isinstance(cb, callback_class))
            setattr(self, attribute, callback)
            saved = saved_states.get(callback_class.__name__)
            saved = saved[0] if isinstance(saved, list) else saved
            for name, value in (saved or {}).get("attributes", {}).items():
                setattr(callback, name, value)

    def _feed_token_entropy_recorders(self, loss_pass: _LossPass) -> None:
        # Training only, main process only; without a `TokenEntropyRecorder` this is one scan of the short callback
        # list. The recorder reads detached copies, so training numerics are untouched.
        if not (self.model.training and self.accelerator.is_main_process):
            return
        step = self.state.global_step + 1  # the step being trained, as numbered in the log history
        for callback in self.callback_handler.callbacks:
            if isinstance(callback, TokenEntropyRecorder) and callback.wants_step(step):
                inputs = loss_pass.inputs
                callback.record_batch(
                    step,
                    self.processing_class,
                    inputs["completion_ids"],
                    loss_pass.entropies.detach(),
                    loss_pass.mask,
                    advantages=inputs.get("advantages"),
                    prompt_ids=inputs.get("prompt_ids"),
                    prompt_mask=inputs.get("prompt_mask"),
                    rewards=inputs.get(COMPLETION_REWARDS_KEY),
                )

    def _analysis_callback(self) -> EntropyAnalysisCallback | None:
        return next((cb for cb in self.callback_handler.callbacks if isinstance(cb, EntropyAnalysisCallback)), None)

    def _analysis_callback_for_step(self) -> EntropyAnalysisCallback | None:
        """The analysis callback when the optimizer step being trained is one it analyses (training only)."""
        if not self.model.training:
            return None
        callback = self._analysis_callback()
        return callback if callback is not None and callback.wants_step(self.state.global_step + 1) else None

    def _feed_analysis(self, callback: EntropyAnalysisCallback, loss_pass: _LossPass) -> None:
        inputs, mask = loss_pass.inputs, loss_pass.mask
        completion_ids = inputs["completion_ids"]
        rewards = inputs.get(COMPLETION_REWARDS_KEY)
        correct = None if rewards is None else rewards >= callback.correct_reward  # NaN (unscored): incorrect
        gradient_norm = branching = None
        if callback.gradient_norm and self._analysis_alpha_supported():
            hidden_states = loss_pass.hidden_states

            def compute(weight, bias, logit_scale, softcap):
                return token_statistics(
                    hidden_states.to(weight.device, weight.dtype),
                    weight,
                    bias,
                    completion_ids.to(weight.device),
                    top_p=callback.top_p,
                    temperature=self.temperature,
                    logit_scale=logit_scale,
                    softcap=softcap,
                    mask=mask.to(weight.device),
                    with_entropy=False,  # TRL's forward already gave it
                )

            stats = with_full_lm_head(self.model, compute)
            alpha = clipped_advantage_factor(
                inputs["advantages"],
                loss_pass.per_token_logps,
                inputs.get("old_per_token_logps"),
                loss_type=self.loss_type,
                epsilon_low=self.epsilon_low,
                epsilon_high=self.epsilon_high,
                delta=self.args.delta,
            )
            gradient_norm = gradient_norm_proxy(alpha.to(stats.direction_norm.device), *stats[:2], mask)
            branching = stats.branching
        token_texts = completion_texts = None
        if callback.roles or callback.quality:
            tokenizer = getattr(self.processing_class, "tokenizer", self.processing_class)
            rows = [ids[keep].tolist() for ids, keep in zip(completion_ids.cpu(), mask.cpu() > 0, strict=True)]
            if callback.roles:
                # special tokens (EOS) decode to "" and take the role of the text before them
                token_texts = [[tokenizer.decode([token], skip_special_tokens=True) for token in row] for row in rows]
            if callback.quality:
                completion_texts = tokenizer.batch_decode(rows, skip_special_tokens=True)
        sums = batch_analysis_sums(
            loss_pass.entropies.detach(),
            mask,
            correct=correct,
            gradient_norm=gradient_norm,
            branching=branching,
            token_texts=token_texts,
            completion_texts=completion_texts,
            num_bins=callback.num_bins,
            role_lexicon=callback.role_lexicon,
            require_boxed=callback.require_boxed,
        )
        names = sorted(sums)  # the same layout on every process
        local = torch.tensor([sums[name] for name in names], dtype=torch.float64, device=self.accelerator.device)
        totals = self.accelerator.reduce(local, reduction="sum").tolist()
        reduced = {name: tuple(pair) for name, pair in zip(names, totals, strict=True)}
        callback.add(self.state.global_step + 1, reduced, stage=self.stage_detector.stage)

    def _analysis_alpha_supported(self) -> bool:
        supported = self.loss_type in ALPHA_LOSS_TYPES and self.importance_sampling_level == "token"
        if not supported and not getattr(self, "_warned_analysis_alpha", False):
            self._warned_analysis_alpha = True
            warnings.warn(
                f"EntropyAnalysisCallback: the gradient-norm proxy G_t is defined for token-level losses of types "
                f"{ALPHA_LOSS_TYPES}; this run uses loss_type={self.loss_type!r} with importance_sampling_level="
                f"{self.importance_sampling_level!r}, so G_t and the branching factor are not computed.",
                stacklevel=2,
            )
        return supported

    def _position_metrics_callback(self) -> PositionMetrics | None:
        return next((cb for cb in self.callback_handler.callbacks if isinstance(cb, PositionMetrics)), None)

    def _log_position_metrics(self, loss_pass: _LossPass) -> None:
        labels = loss_pass.inputs.get(POSITION_LABELS_KEY)
        if labels is None:
            return
        sums = position_metric_sums(labels, loss_pass.mask, loss_pass.entropies, loss_pass.token_values)
        for name, (total, count) in sums.items():
            self.log_metric(name, total, count, prefix=TASK_METRIC_PREFIX)

    def _has_token_entropy_recorder(self) -> bool:
        return any(isinstance(callback, TokenEntropyRecorder) for callback in self.callback_handler.callbacks)

    def _log_curriculum_batch(self, inputs: list[dict[str, Any]], mode: str) -> None:
        # Prompts of a `SemanticEntropyCurriculum` carry their score and stage; every process reads the same dataset,
        # so all of them take part in the reduction or none does. NaN scores (no answer at all) are not averaged.
        from .sent.curriculum import SCORE_COLUMN, STAGE_COLUMN

        if not inputs or SCORE_COLUMN not in inputs[0]:
            return
        device = self.accelerator.device
        scores = torch.tensor([float(row[SCORE_COLUMN]) for row in inputs], device=device)
        scored = ~scores.isnan()
        stages = torch.tensor([float(row.get(STAGE_COLUMN, 0)) for row in inputs], device=device)
        local = torch.stack(
            [scores[scored].sum(), scored.sum().float(), stages.sum(), torch.tensor(float(len(inputs)), device=device)]
        )
        score_sum, score_count, stage_sum, count = self.accelerator.reduce(local, reduction="sum").tolist()
        metrics = self._metrics[mode]
        metrics[METRIC_PREFIX + "curriculum_semantic_entropy"].append(
            score_sum / score_count if score_count else math.nan
        )
        if STAGE_COLUMN in inputs[0]:
            metrics[METRIC_PREFIX + "curriculum_stage"].append(stage_sum / count)

    def _flush_method_metrics(self, loss_pass: _LossPass) -> None:
        if not loss_pass.metrics:
            return
        mode = "train" if self.model.training else "eval"
        names = sorted(loss_pass.metrics)  # same order on every process
        local = torch.stack([torch.stack(loss_pass.metrics[name]) for name in names])  # (n, 2)
        totals = self.accelerator.reduce(local, reduction="sum").tolist()
        window = self._method_metric_window[mode]
        for name, (total, count) in zip(names, totals, strict=True):
            self._metrics[mode][name].append(total / count if count > 0 else math.nan)
            window_total = window.setdefault(name, [0.0, 0.0])
            window_total[0] += total
            window_total[1] += count

    # ------------------------------------------------------------------------------------------------------------
    # Model card
    # ------------------------------------------------------------------------------------------------------------

    def create_model_card(
        self,
        model_name: str | None = None,
        dataset_name: str | None = None,
        tags: str | list[str] | None = None,
    ):
        r"""
        Write `README.md`, the curve PNGs it shows (when matplotlib is installed) and the inputs it was made from
        (`trl_entropy_card.json`, for `trl-entropy card`) into `output_dir`. `save_model` already writes the card
        next to the weights it saves; TRL's call from `_save_checkpoint` (into `output_dir`, which holds none of that
        checkpoint's weights) is skipped.

        Replaces TRL's card, whose template TRL only looks up inside its own package. The card names the method, its
        paper and citation, the method and key GRPO hyperparameters, the decoding settings, the base model, the
        reward functions, the curves and the evaluations in `output_dir` of the weights there (see
        `docs/model_cards.md`).

        Args:
            model_name (`str`, *optional*):
                Name of the model, remembered for the later cards; defaults to the name recorded in `output_dir`'s
                `trl_entropy_card.json`, else the Hub repository's, else the name of `output_dir`.
            dataset_name (`str`, *optional*):
                Name of the training dataset; remembered as `model_card_dataset_name` for the later cards (TRL's
                checkpoint saves name none).
            tags (`str` or `list[str]`, *optional*):
                Extra tags.
        """
        if dataset_name is not None:
            self.model_card_dataset_name = dataset_name
        if getattr(self, "_saving_checkpoint", False):
            # TRL's `_save_checkpoint` calls this first, to write a card into `output_dir` before the checkpoint's
            # weights exist, and they are saved into `checkpoint-<step>/`, not `output_dir`: that card would describe
            # weights that are not next to it. The checkpoint's card is written next to its weights by `save_model`.
            return
        if model_name is not None:
            self.model_card_model_name = model_name
        if tags is not None:
            self.model_card_tags = tags
        if not self.is_world_process_zero():
            return
        output_dir = self.args.output_dir
        write_model_card(self, model_name=self._card_model_name(output_dir), dataset_name=dataset_name,
                         tags=getattr(self, "model_card_tags", None), output_dir=output_dir)  # fmt: skip

    def _card_model_name(self, output_dir: str) -> str:
        """The name a card in `output_dir` gets: one given to `create_model_card`, else the one recorded there (e.g.
        by `trl-entropy card --model-name`), else the Hub repository's, else the folder's (the run's for a
        checkpoint)."""
        if getattr(self, "model_card_model_name", None):
            return self.model_card_model_name
        with contextlib.suppress(OSError, ValueError, AttributeError):
            with open(os.path.join(output_dir, CARD_INPUTS_FILENAME)) as f:
                recorded = json.load(f).get("model_name")
            if isinstance(recorded, str) and recorded:
                return recorded
        if self.args.hub_model_id:
            return self.args.hub_model_id.split("/")[-1]
        folder = os.path.basename(os.path.normpath(output_dir))
        if re.fullmatch(rf"{PREFIX_CHECKPOINT_DIR}-\d+", folder):
            return os.path.basename(os.path.normpath(self.args.output_dir))
        return folder

    def _save_extra_weights(self, output_dir: str) -> None:
        """Save weights besides the policy's into a folder the model was just saved to (PPO's critic); called by
        `save_model` on every process, before the card is written."""

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False):
        """
        Save the model (and, for subclasses, e.g. PPO's critic) to `output_dir`, then write its card next to it on
        the main process: `README.md`, `trl_entropy_card.json` and the curve PNGs. Every save path writes one card,
        once: a final `save_model`, every `checkpoint-<step>` (`_save_checkpoint` calls this), `push_to_hub`.
        """
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        # `_internal_call=True` only stops the Trainer pushing at the end of its `save_model`: the push comes below,
        # once the card is written.
        super().save_model(output_dir, _internal_call=True)
        self._save_extra_weights(output_dir)
        if self.is_world_process_zero() and os.path.isdir(output_dir):
            self._make_adapter_config_portable(output_dir)
            write_model_card(self, model_name=self._card_model_name(output_dir),
                             tags=getattr(self, "model_card_tags", None), output_dir=output_dir)  # fmt: skip
        if self.args.push_to_hub and not _internal_call:
            self.push_to_hub(commit_message="Model save", revision=self.args.hub_revision)

    def _make_adapter_config_portable(self, output_dir: str) -> None:
        # PEFT records the base model's local path (often a temporary or cache folder) in `adapter_config.json`;
        # name it as the card does instead: a Hub id, or a name such as `trl-entropy/tiny-countdown`.
        path = os.path.join(output_dir, "adapter_config.json")
        if not os.path.isfile(path):
            return
        with open(path) as f:
            config = json.load(f)
        base = config.get("base_model_name_or_path")
        if not isinstance(base, str) or not (os.path.isabs(base) or os.path.isdir(base)):
            return
        config["base_model_name_or_path"] = describe_base_model(base)["portable_name"]
        with open(path, "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)

    def _save_checkpoint(self, model, trial):
        # `save_model` writes each `checkpoint-<step>`'s card next to its weights; TRL's own card (into `output_dir`,
        # which holds no weights of this checkpoint) is skipped, see `create_model_card`.
        self._saving_checkpoint = True
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._saving_checkpoint = False

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        # The Trainer copies the checkpoint's weights into `output_dir` and uploads that folder: the checkpoint's card
        # goes with them (same conditions as the Trainer's for pushing at all).
        args = self.args
        push_busy = (
            not args.hub_always_push and self.push_in_progress is not None and not self.push_in_progress.is_done()
        )
        if self.is_world_process_zero() and args.hub_strategy != HubStrategy.END and not push_busy:
            for name in (CARD_FILENAME, CARD_INPUTS_FILENAME, CURVES_FILENAME, METHOD_CURVES_FILENAME):
                if os.path.isfile(os.path.join(checkpoint_folder, name)):
                    shutil.copy(os.path.join(checkpoint_folder, name), os.path.join(args.output_dir, name))
        super()._push_from_checkpoint(checkpoint_folder)


def stage_detector_kwargs(args) -> dict[str, Any]:
    """Stage-detector settings from a config's `stage_*` fields (any config; missing fields keep the defaults)."""
    names = {
        "stage_window": "window",
        "stage_ratio": "ratio",
        "stage_patience": "patience",
        "stage_min_steps": "min_steps",
    }
    return {name: getattr(args, field) for field, name in names.items() if hasattr(args, field)}


__all__ = ["METRIC_PREFIX", "EntropyGRPOTrainer"]
