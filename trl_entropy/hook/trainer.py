# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`EntropyGRPOTrainer`: TRL's `GRPOTrainer` running a list of components (the hook). Knows no method.

TRL 1.16's `GRPOTrainer._compute_loss` runs the policy forward through `_get_per_token_logps_and_entropies` and only
afterwards reads `inputs["advantages"]`. The hook uses exactly that order and nothing else of the loss code:

1. `_compute_loss` hands TRL a *shallow copy* of the buffered batch, so nothing written into it survives the call;
2. `_get_per_token_logps_and_entropies` is intercepted on its first call inside that loss pass, which must be the
   policy forward (`compute_entropy=True` on the model being trained; anything else raises): the per-token
   log-probs and entropies of that very forward are given, detached, to the components' `shape`, one after the
   other, and the result replaces `advantages` in the copy before TRL reads it;
3. after TRL's loss is computed, the components' `loss` see the same log-probs and entropies *with* gradient and
   their values are added to the loss.

TRL's loss code is never copied, so every `loss_type`, importance-sampling level, clipping variant, off-policy mask,
KL term and metric of TRL keeps working, and TRL's fused LM head stays on (no `(B, T, V)` logits are materialised).
"""

import contextlib
import inspect
import json
import math
import os
from typing import Any

import torch
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_callback import ExportableState
from trl import GRPOConfig, GRPOTrainer
from trl.models.utils import disable_gradient_checkpointing
from trl.trainer.utils import get_config_model_id

from ..quantization import disable_cpu_inference_repacking
from .component import Component
from .context import METRIC_PREFIX, ComponentContext, LossPass
from .policy import capture_final_hidden_states, completion_hidden_states, loss_mask
from .saving import CardSaving


# The state of one loss pass (its former name, kept for tests and user code).
_LossPass = LossPass
# GRPOTrainer.__init__'s parameters after (self, model, reward_funcs, args), in order.
_GRPO_INIT_PARAMETERS_AFTER_ARGS = tuple(inspect.signature(GRPOTrainer.__init__).parameters)[4:]
# TRL's forward, whose arguments identify the policy forward of a loss pass (`compute_entropy=True`).
_LOGPS_SIGNATURE = inspect.signature(GRPOTrainer._get_per_token_logps_and_entropies)
# Arguments of TRL's policy forward that `_compute_loss` reads from the batch (besides the ids and masks).
FORWARD_INPUT_KEYS = (
    "pixel_values", "image_grid_thw", "num_images", "pixel_attention_mask", "spatial_shapes", "num_tiles",
    "image_sizes", "token_type_ids", "mm_token_type_ids", "image_position_ids",
)  # fmt: skip


def resolve_components(components: list[Component], args: Any) -> list[Component]:
    """
    The components a trainer runs, from those it was given: each distinct by name, with every component they
    `require` added (at its defaults from `args`), in their order of application, each checked against the run's
    settings and every pair against each other. Raises a `ValueError` naming both components of a pair that cannot
    run together.
    """
    resolved: list[Component] = []
    queue = list(components)
    while queue:
        component = queue.pop(0)
        if any(other.name == component.name for other in resolved):
            if not component.allow_several:
                raise ValueError(f"The component {component.name!r} is listed twice; list each method once.")
            taken = {other.name for other in resolved}
            component.name = next(
                f"{component.name}#{k}" for k in range(2, len(taken) + 2) if f"{component.name}#{k}" not in taken
            )
        resolved.append(component)
        for required in component.requires:
            if not any(other.name == required.name for other in [*resolved, *queue]):
                queue.append(required(args))
    resolved.sort(key=lambda component: component.order)  # stable: equal orders keep the given order
    for i, first in enumerate(resolved):
        for second in resolved[i + 1 :]:
            reason = first.conflict(second) or second.conflict(first)
            if reason:
                raise ValueError(f"{first.name!r} and {second.name!r} cannot run together: {reason}")
    for component in resolved:
        component.check_args(args)
    return resolved


def brings_component(obj: Any) -> bool:
    """Whether `obj` (a callback instance, a dataset) brings the component that feeds it (`trainer_component`)."""
    return not isinstance(obj, type) and callable(getattr(obj, "trainer_component", None))


class EntropyGRPOTrainer(CardSaving, GRPOTrainer):
    r"""
    [`~trl.GRPOTrainer`] that runs a list of components ([`~trl_entropy.hook.Component`]): advantage shapers, loss
    terms, data-side components and observers. Without components it trains exactly like [`~trl.GRPOTrainer`].

    A method's trainer lists its components in `component_classes` (a subclass may instead override
    `build_components`); callbacks and datasets that need feeding from the loss pass bring their own component
    (`trainer_component`), which is added too. Components run in the order of their `order` (see
    `docs/composition.md`); their metrics are exact means over all tokens of all processes and micro-batches of the
    logging window, logged under their own names.

    The buffered generation batch is never modified: with `num_iterations > 1`, or `steps_per_generation` larger than
    `gradient_accumulation_steps`, TRL feeds the same batch to several optimizer steps, and each of them shapes TRL's
    original advantages afresh, with the entropies of the policy at that step. Shaping never compounds.

    Accepts every argument of [`~trl.GRPOTrainer`] (including `peft_config` and `quantization_config`), and any
    [`~trl.GRPOConfig`].
    """

    _tag_names = ["trl", "grpo", "trl-entropy"]
    _name = "GRPO (trl-entropy)"
    # Citation of the method, shown in the model card when no component cites a paper.
    _paper = dict(GRPOTrainer._paper)
    # The components of this trainer, built from `args` by the default `build_components`.
    component_classes: tuple[type[Component], ...] = ()
    # Config built when no `args` are given, with `output_dir` "<model name>-<_output_suffix>".
    config_class: type[GRPOConfig] = GRPOConfig
    _output_suffix = "GRPO"

    def __init__(self, model, reward_funcs=None, args=None, *more_args, **kwargs):
        # Same signature as GRPOTrainer: name any further positional arguments so `callbacks` can be extended.
        kwargs.update(zip(_GRPO_INIT_PARAMETERS_AFTER_ARGS, more_args, strict=False))
        callbacks = list(kwargs.pop("callbacks", None) or [])
        if args is None:
            model_name = model if isinstance(model, str) else get_config_model_id(model.config)
            args = self.config_class(f"{model_name.split('/')[-1]}-{self._output_suffix}")
        self._loss_pass: LossPass | None = None
        # mode -> metric name -> [sum, count] over the current logging window, across processes: `log` reports their
        # ratio (TRL's own `log` would average the per-pass means, unweighted).
        self._method_metric_window: dict[str, dict[str, list[float]]] = {"train": {}, "eval": {}}
        # component name -> (micro-batch shapes, entries) of the optimizer step being trained, or None
        self._step_windows: dict[str, tuple[tuple, list]] = {}
        self._last_rewards_per_func: torch.Tensor | None = None
        # Built before GRPOTrainer.__init__: a configuration that cannot work fails before any model is loaded.
        components = self.build_components(args)
        components += [obj.trainer_component(args) for obj in [*callbacks, kwargs.get("train_dataset")]
                       if brings_component(obj)]  # fmt: skip
        self.components: list[Component] = resolve_components(components, args)
        self._contexts = {component.name: ComponentContext(self, component) for component in self.components}
        own_callbacks = [callback for component in self.components for callback in component.callbacks()]
        super().__init__(model, reward_funcs, args=args, callbacks=[*callbacks, *own_callbacks], **kwargs)
        # A 4-bit policy must not be repacked into bitsandbytes' inference-only CPU layout by any eval-mode forward.
        disable_cpu_inference_repacking(self.model)

    def build_components(self, args) -> list[Component]:
        """The components of this trainer (besides those its callbacks and dataset bring); by default one of each
        class in `component_classes`."""
        return [component_class(args) for component_class in self.component_classes]

    def context(self, component: Component) -> ComponentContext:
        """The context the trainer gives `component`."""
        return self._contexts[component.name]

    def get_component(self, name: str) -> Component | None:
        """The component named `name`, or `None`."""
        return next((component for component in self.components if component.name == name), None)

    def add_callback(self, callback):
        super().add_callback(callback)
        if brings_component(callback):  # e.g. an analysis callback added after construction
            component = callback.trainer_component(self.args)
            existing = self.get_component(component.name)
            if existing is not None and not component.allow_several:  # a new callback of a kind that runs once
                self.remove_component(existing.name)
            self.components = resolve_components([*self.components, component], self.args)
            for new in self.components:
                if new.name not in self._contexts:
                    self._contexts[new.name] = ComponentContext(self, new)
                    for own in new.callbacks():
                        if own is not callback:
                            super().add_callback(own)

    def remove_component(self, name: str) -> None:
        self.components = [component for component in self.components if component.name != name]
        self._contexts.pop(name, None)

    @property
    def advantage_shapers(self) -> list[Component]:
        """The components that shape advantages, in their order of application."""
        return [component for component in self.components if type(component).shape is not Component.shape]

    @property
    def stage_detector(self):
        """The stage detector of the `stages` component (position shaping and the analysis callback attach it), or
        `None`."""
        stages = self.get_component("stages")
        return None if stages is None else stages.detector

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
        forward and before TRL reads the advantages. The default applies the components' `shape`, in order; a
        subclass may override it (a trainer-level alternative to writing a component).

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
        shapers = self.advantage_shapers
        if not shapers:
            return None
        for shaper in shapers:
            advantages = shaper.shape(self.context(shaper), advantages, per_token_logps, entropies, mask, inputs)
        return advantages

    def extra_loss(
        self,
        per_token_logps: torch.Tensor,
        entropies: torch.Tensor,
        mask: torch.Tensor,
        inputs: dict[str, Any],
    ) -> torch.Tensor | None:
        r"""
        A scalar loss term added to TRL's loss. Called once per loss pass (micro-batch), after TRL's loss. The default
        sums the components' `loss`, in order; a subclass may override it.

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
        total = None
        for component in self.components:
            term = component.loss(self.context(component), per_token_logps, entropies, mask, inputs)
            if term is not None:
                total = term if total is None else total + term
        return total

    def log_metric(
        self, name: str, total: torch.Tensor | float, count: torch.Tensor | float, prefix: str = METRIC_PREFIX
    ) -> None:
        """Record a statistic of the current micro-batch from a trainer subclass's own `shape_advantages` or
        `extra_loss`; see [`~trl_entropy.hook.ComponentContext.log_metric`] (components log through their context)."""
        self._trainer_context().log_metric(name, total, count, prefix)

    def record_token_values(self, name: str, values: torch.Tensor, kind: str = "value") -> None:
        """Publish a per-token tensor of the current micro-batch from a trainer subclass; see
        [`~trl_entropy.hook.ComponentContext.record_token_values`]."""
        self._trainer_context().record_token_values(name, values, kind)

    def _trainer_context(self) -> ComponentContext:
        # Metrics a trainer subclass logs itself are attributed to the trainer (not to a component).
        if "__trainer__" not in self._contexts:
            owner = Component.__new__(Component)
            owner.name = type(self).__name__
            self._contexts["__trainer__"] = ComponentContext(self, owner)
        return self._contexts["__trainer__"]

    def method_hyperparameters(self) -> dict[str, Any]:
        """Values of the components' hyperparameters (in their order), for the model card."""
        values = {}
        for component in self.components:
            values.update(component.hyperparameters())
        return values

    def card_method_info(self) -> dict[str, Any]:
        """
        What the model card says about the method, as plain data: `method` (its display name), `papers` (the papers
        to cite, each a dict with `title`, `id`, `citation`), `method_hyperparameters`, `stage_detector` (`"used"`
        when a component acts on the stage detector, `"logged"` when it is only logged, `None` without one) and
        `plateau_step`.
        """
        papers = list({c.paper["id"]: c.paper for c in self.components if c.paper}.values())
        own_paper = getattr(self, "_paper", None) or {}
        papers = papers or ([own_paper] if own_paper else [])
        hyperparameters = dict(self.method_hyperparameters())
        for component in self.components:
            hyperparameters.update(component.card_rows(self.context(component)))
        uses_detector = any(component.uses_stage_detector for component in self.components)
        detector = self.stage_detector
        return {
            "method": getattr(self, "_name", type(self).__name__),
            "papers": papers,
            "method_hyperparameters": hyperparameters,
            "stage_detector": None if detector is None else ("used" if uses_detector else "logged"),
            "plateau_step": None if detector is None else detector.plateau_step,
        }

    # ------------------------------------------------------------------------------------------------------------
    # Wiring into TRL
    # ------------------------------------------------------------------------------------------------------------

    def create_accelerator_and_postprocess(self):
        super().create_accelerator_and_postprocess()
        # As soon as the accelerator exists: before TRL loads a reference model or starts vLLM.
        for component in self.components:
            component.check_accelerator(self.accelerator)

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
            for component in self.components:
                component.on_loss_pass_end(self.context(component), loss_pass)
        return loss

    @contextlib.contextmanager
    def _open_loss_pass(self, inputs: dict[str, Any], model=None):
        """The state of one loss pass (on a shallow copy of `inputs`, for the trained `model`), open for metrics while
        the block runs; its metrics are reduced across processes and logged when the block completes."""
        loss_pass = LossPass(inputs=dict(inputs), model=model)
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
        capture = policy_forward and any(c.wants_hidden_states(self.context(c)) for c in self.components)
        with capture_final_hidden_states(model, capture) as captured:
            per_token_logps, entropies, aux_loss = super()._get_per_token_logps_and_entropies(model, *args, **kwargs)
        if policy_forward and entropies is not None:
            loss_pass.forward_seen = True
            inputs = loss_pass.inputs
            if capture:
                loss_pass.hidden_states = completion_hidden_states(captured, per_token_logps.size(1), self, model)
            mask = loss_mask(inputs).to(per_token_logps.dtype)
            loss_pass.per_token_logps, loss_pass.entropies, loss_pass.mask = per_token_logps, entropies, mask
            for component in self.components:  # before shaping: TRL's advantages
                component.on_forward(self.context(component), loss_pass)
            advantages = inputs["advantages"]
            shaped = self.shape_advantages(advantages, per_token_logps.detach(), entropies.detach(), mask, inputs)
            if shaped is not None:
                if shaped.shape not in (advantages.shape, per_token_logps.shape):
                    raise ValueError(
                        f"`shape_advantages` must return a tensor of shape {tuple(advantages.shape)} or "
                        f"{tuple(per_token_logps.shape)}, got {tuple(shaped.shape)}."
                    )
                inputs["advantages"] = shaped.detach()
            for component in self.components:  # after shaping: the advantages the loss uses
                component.on_shaped(self.context(component), loss_pass)
        return per_token_logps, entropies, aux_loss

    def _check_policy_forward(self, loss_pass: LossPass, model, args, kwargs) -> None:
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

    def _policy_forward_without_gradient(
        self, batch: dict[str, Any], compute_entropy: bool = False, capture_hidden_states: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """See [`~trl_entropy.hook.ComponentContext.policy_forward`]; in chunks of `per_device_train_batch_size`."""
        num_positions = batch["completion_ids"].size(1)
        with (
            torch.no_grad(),
            disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs),
            capture_final_hidden_states(self.model, capture_hidden_states) as captured,
        ):
            logps, entropies, _ = self._get_per_token_logps_and_entropies(
                self.model,
                torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1),
                torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1),
                num_positions,
                batch_size=self.args.per_device_train_batch_size,
                compute_entropy=compute_entropy,
                **{key: batch.get(key) for key in FORWARD_INPUT_KEYS},
            )
        hidden_states = None
        if capture_hidden_states:
            hidden_states = completion_hidden_states(captured, num_positions, self, self.model)
        return logps, entropies, hidden_states

    def _prepare_inputs(self, generation_batch):
        inputs = super()._prepare_inputs(generation_batch)
        # TRL buffers the generation batch and feeds one slice per micro-batch, counting them in `_step`; an
        # optimizer step is `current_gradient_accumulation_steps` consecutive slices, and the policy does not change
        # until its last backward. When TRL prepares a step's first micro-batch, the components that ask for it get
        # all the step's micro-batches of this process at once (a step window).
        accumulation = self.current_gradient_accumulation_steps
        if self.model.training and self._step % accumulation == 0:
            wanted = [c for c in self.components if c.wants_step_window(self.context(c))]
            self._step_windows = {}  # a window lives for one optimizer step
            if wanted:
                start = self._step % self.args.steps_per_generation
                batches = self._buffered_inputs[start : start + accumulation]
                shapes = tuple(tuple(batch["completion_mask"].shape) for batch in batches)
                for component in wanted:
                    entries = component.build_step_window(self.context(component), batches)
                    self._step_windows[component.name] = (shapes, list(entries))
        return inputs

    def _step_window_entry(self, component: Component, mask: torch.Tensor) -> Any:
        index = self._step % self.current_gradient_accumulation_steps
        window = self._step_windows.get(component.name)
        if window is None or index >= len(window[0]):
            raise RuntimeError(
                f"Component {component.name!r}: no step window entry for micro-batch {index} of this step; the "
                "window is built when TRL prepares the step's first micro-batch."
            )
        shapes, entries = window
        if shapes[index] != tuple(mask.shape):
            raise RuntimeError(
                f"Component {component.name!r}: the step window's micro-batch {index} has shape {shapes[index]}, the "
                f"loss pass {tuple(mask.shape)}; TRL fed the micro-batches in another order than it buffered them."
            )
        return entries[index]

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        # Gathered over all processes; offered to the components' `on_generation` (`ctx.rewards_per_func`).
        self._last_rewards_per_func = rewards_per_func
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        self._last_rewards_per_func = None
        batch = super()._generate_and_score_completions(inputs)
        for component in self.components:
            component.on_generation(self.context(component), batch, inputs)
        self._last_rewards_per_func = None
        return batch

    def training_step(self, model, inputs, num_items_in_batch):
        loss = super().training_step(model, inputs, num_items_in_batch)
        # TRL counts micro-batches in `_step`: this one was the last of an optimizer step.
        if self._step % self.current_gradient_accumulation_steps == 0:
            for component in self.components:
                component.on_optimizer_step(self.context(component))
        return loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        mode = "train" if self.model.training else "eval"
        # The method metrics of the window as one exact mean (TRL averages each list; a one-element list is exact).
        for name, (total, count) in self._method_metric_window[mode].items():
            self._metrics[mode][name] = [total / count if count > 0 else math.nan]
        self._method_metric_window[mode] = {}
        for component in self.components:
            component.on_log(self.context(component), mode)
        super().log(logs, start_time)

    def _stateful_callbacks(self) -> list[ExportableState]:
        return [cb for c in self.components for cb in c.callbacks() if isinstance(cb, ExportableState)]

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        if not resume_from_checkpoint:
            # A run from scratch (also a second `train()` call) restarts at step 0: so do the components' stateful
            # callbacks (the stage detector otherwise would refuse observations at steps it has already seen).
            for callback in self._stateful_callbacks():
                fresh = type(callback)(**callback.state()["args"])
                for name, value in fresh.state()["attributes"].items():
                    setattr(callback, name, value)
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        # transformers restores stateful callbacks only with `restore_callback_states_from_checkpoint=True`; the
        # components' (the stage detector decides when schedules start, PAEC's anchor sets its floor) always are.
        state_path = None if checkpoint is None else os.path.join(checkpoint, TRAINER_STATE_NAME)
        saved_states = {}
        if state_path is not None and os.path.isfile(state_path):
            with open(state_path) as f:
                saved_states = json.load(f).get("stateful_callbacks", {})
        for component in self.components:
            for own in component.callbacks():
                if not isinstance(own, ExportableState):
                    continue
                # With that flag transformers has already swapped in a new instance: keep feeding the one it will save.
                current = next(cb for cb in self.callback_handler.callbacks if isinstance(cb, type(own)))
                if current is not own:
                    component.replace_callback(own, current)
                saved = saved_states.get(type(own).__name__)
                saved = saved[0] if isinstance(saved, list) else saved
                for name, value in (saved or {}).get("attributes", {}).items():
                    setattr(current, name, value)

    def _flush_method_metrics(self, loss_pass: LossPass) -> None:
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


__all__ = ["METRIC_PREFIX", "EntropyGRPOTrainer", "resolve_components"]
