# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`PPOTrainer`: PPO with a learned critic, built on TRL 1.16's `GRPOTrainer` (via `EntropyGRPOTrainer`).

TRL 1.x ships no PPO trainer. This one keeps everything of GRPO that is not the baseline (generation with HF or vLLM,
reward functions, the clipped surrogate loss of every `loss_type`, the `beta` KL to the reference model, PEFT,
Accelerate, logging) and replaces the group-normalised advantages by the critic's:

1. after TRL generated and scored a batch, the critic (a causal LM backbone with a scalar head, from the policy's or
   another checkpoint) gives the value of the state before every completion token, without gradient;
2. the outcome reward goes on the last completion token; GAE over the tokens gives the advantages and returns
   (`trl_entropy.functional.gae`), whitened over the generation batch of all processes;
3. TRL's loss trains the policy on those `(B, T)` advantages (it accepts token-level advantages as they are), and
   the clipped value loss, added through the `extra_loss` hook, trains the critic with its own optimizer, stepped at
   the end of every optimizer step.

TRL's loss code is not copied. For the first `ppo_critic_warmup_steps` optimizer steps only the critic trains.
"""

import os

import torch
from accelerate.utils import DistributedType
from safetensors.torch import load_file
from transformers.optimization import GreedyLR

from ..entropy_advantage.component import PAPER_2506_14758, EntropyAdvantageShaper
from ..hook.component import config_option
from ..hook.policy import loss_mask, policy_modules
from ..hook.trainer import EntropyGRPOTrainer
from ..model_card import KEY_GRPO_FIELDS
from .config import EntropyAdvantagePPOConfig, PPOConfig, check_critic_precision
from .critic import (
    CRITIC_MARKER_NAME,
    LEGACY_HEAD_PREFIX,
    VALUE_HEAD_NAME,
    CausalLMCritic,
    critic_backbone_spec,
    load_critic,
    lora_critic,
    read_weights,
    split_legacy_weights,
)
from .functional import (
    clipped_value_loss,
    gae,
    masked_sums,
    mean_var_from_sums,
    outcome_token_rewards,
    whiten,
)


CRITIC_DIRNAME = "critic"
CRITIC_OPTIMIZER_NAME = "critic_optimizer.pt"
PPO_METRIC_PREFIX = "ppo/"
PPO_FIELDS = tuple(name for name in PPOConfig.__dataclass_fields__ if name.startswith("ppo_"))
PAPER_PPO = {
    "title": "Proximal Policy Optimization Algorithms",
    "id": "1707.06347",
    # docstyle-ignore
    "citation": """\
@article{schulman2017proximal,
    title        = {{Proximal Policy Optimization Algorithms}},
    author       = {John Schulman and Filip Wolski and Prafulla Dhariwal and Alec Radford and Oleg Klimov},
    year         = 2017,
    eprint       = {arXiv:1707.06347},
}""",
}


def share_backbone(critic: torch.nn.Module, policy_backbone: torch.nn.Module) -> int:
    """
    Make the critic's backbone use the policy's frozen backbone weights (the same tensors, so one copy in memory).

    The policy must be a LoRA model (its base weights frozen, `base_layer` under each adapted layer) of the same
    architecture and size as the critic's backbone. Returns the number of tensors shared.

    Args:
        critic (`torch.nn.Module`):
            The critic ([`CausalLMCritic`], or a model with a `base_model` such as `AutoModelForTokenClassification`),
            before any LoRA of its own.
        policy_backbone (`torch.nn.Module`):
            The policy's backbone (the module its LM head reads), with the policy's LoRA layers in it.
    """
    policy = {}
    for name, parameter in policy_backbone.named_parameters():
        if "lora_" in name or ".modules_to_save." in name or ".original_module." in name:
            continue
        policy[name.replace(".base_layer.", ".")] = parameter
    backbone = critic.backbone if isinstance(critic, CausalLMCritic) else critic.base_model
    shared = 0
    for name, parameter in list(backbone.named_parameters()):
        source = policy.get(name)
        if source is None or source.shape != parameter.shape:
            raise ValueError(
                f"`ppo_critic_share_backbone`: the policy's backbone has no weight {name!r} of shape "
                f"{tuple(parameter.shape)}: the critic must come from the policy's checkpoint."
            )
        if source.requires_grad:
            raise ValueError(
                f"`ppo_critic_share_backbone` needs the policy's backbone weights frozen (a LoRA policy, "
                f"`peft_config=`), but {name!r} is trained."
            )
        module_name, _, leaf = name.rpartition(".")
        setattr(backbone.get_submodule(module_name) if module_name else backbone, leaf, source)
        shared += 1
    return shared


class WarmupDeferredScheduler:
    """
    The policy's learning-rate scheduler, held still during PPO's critic warm-up: `step()` does nothing while `defer()`
    is true, so the schedule counts the policy's own optimizer steps only. Everything else (`state_dict`,
    `load_state_dict`, `get_last_lr`, attributes) is the wrapped scheduler's, so checkpoints hold the plain scheduler's
    state (`scheduler.pt` is unchanged) and resume exactly.
    """

    def __init__(self, scheduler, defer):
        self.scheduler = scheduler
        self.defer = defer

    def step(self, *args, **kwargs):
        if not self.defer():
            self.scheduler.step(*args, **kwargs)

    def state_dict(self):
        return self.scheduler.state_dict()

    def load_state_dict(self, state_dict):
        self.scheduler.load_state_dict(state_dict)

    def get_last_lr(self):
        return self.scheduler.get_last_lr()

    def __getattr__(self, name):
        if name == "scheduler":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.scheduler, name)


def lora_token_classification_critic(critic: torch.nn.Module, r: int, alpha: int | None = None) -> torch.nn.Module:
    """A token-classification critic passed as `critic_model=` with LoRA adapters of rank `r` on every linear layer of
    its backbone (frozen) and its scalar head `score` trained in full (PEFT's token-classification task)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        task_type="TOKEN_CLS", r=r, lora_alpha=alpha or 2 * r, target_modules="all-linear", modules_to_save=["score"]
    )
    return get_peft_model(critic, config)


class PPOTrainer(EntropyGRPOTrainer):
    r"""
    PPO with a learned critic ([Proximal Policy Optimization Algorithms](https://huggingface.co/papers/1707.06347)) on
    TRL 1.16's GRPO machinery. Accepts every argument of [`~trl.GRPOTrainer`] and:

    Args:
        critic_model (`str` or `torch.nn.Module`, *optional*):
            The critic: a checkpoint path (a [`CausalLMCritic`]: the causal LM's backbone with a new zero-initialised
            scalar head, see [`load_critic`]) or a model returning per-token `logits` of shape `(B, L, 1)`. Defaults
            to `args.ppo_critic_model_name_or_path`, else the policy's checkpoint. A checkpoint whose architecture has
            no causal LM backbone is refused before the policy is loaded.

    The policy loss is TRL's (every `loss_type`, clipping, `beta`) on token-level GAE advantages; the critic trains on
    PPO's clipped value loss with its own AdamW (`ppo_critic_learning_rate`, constant; gradients clipped at
    `max_grad_norm`). The two models share no trained parameter and no optimizer, so `ppo_vf_coef` only scales the
    critic's gradients: for AdamW that is the same as dividing its epsilon and the clipping threshold `max_grad_norm` by
    the coefficient, nothing else; the critic's step size is `ppo_critic_learning_rate`. Checkpoints hold the critic
    (`critic/`: the backbone's `save_pretrained` and `value_head.safetensors`) and its optimizer
    (`critic/critic_optimizer.pt`); `save_model` writes the critic next to the policy. One completion per prompt
    works (`num_generations=1`). fp16 mixed precision is refused (the critic's optimizer is not prepared by
    Accelerate, so fp16's gradient scaler would not unscale it): use `bf16=True` or fp32.

    Logged under `ppo/` (exact means over all processes): `value_loss`, `value_clipfrac`, `explained_variance`,
    `value_mean`, `return_mean`, `advantage_mean` (before whitening), `advantage_std`, `critic_warmup` (1 during the
    warm-up).
    """

    _tag_names = ["trl", "ppo", "trl-entropy"]
    _name = "PPO (trl-entropy)"
    _paper = PAPER_PPO
    config_class = PPOConfig
    _output_suffix = "PPO"
    _card_algorithm = "PPO"
    _card_base_paper = PAPER_PPO
    _card_hyperparameter_fields = (*KEY_GRPO_FIELDS, *PPO_FIELDS)

    def __init__(self, model, reward_funcs=None, args=None, *more_args, critic_model=None, **kwargs):
        # Before the policy is loaded: a checkpoint whose architecture cannot give the critic a backbone fails now, with
        # the reason, rather than after minutes of loading.
        early_path = critic_model
        if early_path is None:
            early_path = getattr(args, "ppo_critic_model_name_or_path", None) or (
                model if isinstance(model, str) else None
            )
        if isinstance(early_path, str):
            critic_backbone_spec(early_path)
        if args is not None and not isinstance(args, PPOConfig):  # a plain `GRPOConfig`: not checked by `PPOConfig`
            check_critic_precision(args)
        super().__init__(model, reward_funcs, args, *more_args, **kwargs)
        self.ppo = {name: config_option(self.args, PPOConfig, name) for name in PPO_FIELDS}
        if self.accelerator.distributed_type == DistributedType.DEEPSPEED:
            # Accelerate drives one DeepSpeed engine per `prepare` call with an optimizer; the critic is a second
            # model with its own optimizer outside it.
            raise NotImplementedError(
                "PPOTrainer does not support DeepSpeed (the critic is a second model with its own optimizer): use "
                "FSDP2 (recipes/accelerate_configs/fsdp2.yaml) or DDP."
            )
        if critic_model is None:
            critic_model = self.ppo["ppo_critic_model_name_or_path"] or _model_path(model, self.model)
        if isinstance(critic_model, str):
            dtype = (self.args.model_init_kwargs or {}).get("dtype", "auto")
            critic_model = load_critic(critic_model, dtype=dtype)
        if self.ppo["ppo_critic_share_backbone"]:
            if self.accelerator.distributed_type == DistributedType.FSDP:
                raise ValueError(
                    "`ppo_critic_share_backbone` cannot be used with FSDP, which shards the policy and the critic "
                    "separately: use DDP, or a critic of its own."
                )
            share_backbone(critic_model, policy_modules(self.model)[1])
        if self.ppo["ppo_critic_lora_r"] > 0:
            r, alpha = self.ppo["ppo_critic_lora_r"], self.ppo["ppo_critic_lora_alpha"]
            if isinstance(critic_model, CausalLMCritic):
                critic_model = lora_critic(critic_model, r, alpha)
            else:
                critic_model = lora_token_classification_critic(critic_model, r, alpha)
        self.critic = self.accelerator.prepare_model(critic_model)
        learning_rate = self.ppo["ppo_critic_learning_rate"] or self.args.learning_rate
        self.critic_optimizer = torch.optim.AdamW(
            [p for p in self.critic.parameters() if p.requires_grad],
            lr=learning_rate,
            weight_decay=self.args.weight_decay,
        )
        self._rewards_per_func = None

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        # The policy's schedule spans the policy's optimizer steps, after the critic warm-up: the scheduler is built
        # for `num_training_steps - ppo_critic_warmup_steps` steps (a `warmup_ratio` is a share of those) and does not
        # step during the warm-up, so the first policy step gets the schedule's step-0 rate and the last one its end.
        warmup = self.ppo["ppo_critic_warmup_steps"]
        if warmup == 0:
            return super().create_scheduler(num_training_steps, optimizer)
        scheduler = super().create_scheduler(max(num_training_steps - warmup, 1), optimizer)
        metric_driven = (torch.optim.lr_scheduler.ReduceLROnPlateau, GreedyLR)
        if not isinstance(scheduler, (WarmupDeferredScheduler, *metric_driven)):  # those step on evaluation metrics
            self.lr_scheduler = WarmupDeferredScheduler(scheduler, self._policy_schedule_deferred)
        return self.lr_scheduler

    def _policy_schedule_deferred(self) -> bool:
        # Read by the scheduler's `step()`, which the Trainer calls before `global_step` counts the step just taken.
        return self.state.global_step < self.ppo["ppo_critic_warmup_steps"]

    def in_critic_warmup(self) -> bool:
        """Whether the current optimizer step trains the critic only (the first `ppo_critic_warmup_steps`)."""
        return self.model.training and self.state.global_step < self.ppo["ppo_critic_warmup_steps"]

    # ------------------------------------------------------------------------------------------------------------
    # Generation: values, GAE, advantages
    # ------------------------------------------------------------------------------------------------------------

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        # Every process's rewards (TRL gathers them to normalise per group); kept for the outcome reward of GAE.
        self._rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        return self._rewards_per_func

    def _generate_and_score_completions(self, inputs):
        batch = super()._generate_and_score_completions(inputs)
        mode = "train" if self.model.training else "eval"
        mask = loss_mask(batch)
        rewards = self._local_rewards(mask.size(0))
        values = self._critic_values(batch) * mask
        advantages, returns = gae(
            outcome_token_rewards(rewards, mask), values, mask, self.ppo["ppo_gamma"], self.ppo["ppo_lam"], True
        )
        # One all-reduce for the whitening statistics and the logged ones: sums over the valid tokens of every process.
        sums = [masked_sums(x, mask) for x in (advantages, values, returns, returns - values)]
        reduced = self.accelerator.reduce(torch.stack([value for triple in sums for value in triple]), reduction="sum")
        advantage_sums, value_sums, return_sums, error_sums = reduced.view(4, 3)
        mean, var = mean_var_from_sums(*advantage_sums)
        return_mean, return_var = mean_var_from_sums(*return_sums)
        _, error_var = mean_var_from_sums(*error_sums)
        metrics = self._metrics[mode]
        metrics[PPO_METRIC_PREFIX + "value_mean"].append(mean_var_from_sums(*value_sums)[0].item())
        metrics[PPO_METRIC_PREFIX + "return_mean"].append(return_mean.item())
        metrics[PPO_METRIC_PREFIX + "advantage_mean"].append(mean.item())
        metrics[PPO_METRIC_PREFIX + "advantage_std"].append(var.sqrt().item())
        # 1 - Var[R - V] / Var[R]: how much of the returns' spread the critic explains.
        metrics[PPO_METRIC_PREFIX + "explained_variance"].append(
            (1 - error_var / return_var).item() if return_var > 0 else float("nan")
        )
        if self.ppo["ppo_whiten_advantages"]:
            advantages = whiten(advantages, mask, mean=mean, var=var)
        batch["advantages"] = advantages
        batch["returns"] = returns
        batch["old_values"] = values
        return batch

    def _local_rewards(self, num_local: int) -> torch.Tensor:
        rewards_per_func = self._rewards_per_func
        weights = self.reward_weights.to(rewards_per_func.device).unsqueeze(0)
        rewards = (rewards_per_func * weights).nansum(dim=1)
        # Unscorable completions (every reward function returned None) carry no signal: reward 0.
        rewards[torch.isnan(rewards_per_func).all(dim=1)] = 0.0
        start = self.accelerator.process_index * num_local
        return rewards[start : start + num_local]

    def _critic_forward(self, prompt_ids, prompt_mask, completion_ids, completion_mask) -> torch.Tensor:
        """Values `(B, T)` of the states before each completion token (the head's output at the previous position)."""
        input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
        attention_mask = torch.cat([prompt_mask, completion_mask], dim=1)
        logits = self.critic(input_ids=input_ids, attention_mask=attention_mask).logits
        num_positions = completion_ids.size(1)
        return logits[:, -num_positions - 1 : -1, 0].float()

    @torch.no_grad()
    def _critic_values(self, batch) -> torch.Tensor:
        # In chunks of the training micro-batch size: the generation batch may hold several of them.
        chunk = self.args.per_device_train_batch_size
        keys = ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask")
        return torch.cat(
            [
                self._critic_forward(*(batch[key][start : start + chunk] for key in keys))
                for start in range(0, batch["completion_ids"].size(0), chunk)
            ]
        )

    # ------------------------------------------------------------------------------------------------------------
    # Loss: the value loss, and the warm-up
    # ------------------------------------------------------------------------------------------------------------

    def extra_loss(self, per_token_logps, entropies, mask, inputs):
        # the critic's value loss, plus the loss terms of the trainer's components (none by default)
        value_loss = self._value_loss(inputs, mask)
        extra = super().extra_loss(per_token_logps, entropies, mask, inputs)
        return value_loss if extra is None else value_loss + extra

    def _value_loss(self, inputs, mask) -> torch.Tensor:
        values = self._critic_forward(
            inputs["prompt_ids"], inputs["prompt_mask"], inputs["completion_ids"], inputs["completion_mask"]
        )
        loss, clipfrac = clipped_value_loss(
            values, inputs["old_values"], inputs["returns"], mask, clip_range=self.ppo["ppo_value_clip"]
        )
        num_valid = mask.sum()
        self.log_metric("value_loss", loss.detach() * num_valid, num_valid, prefix=PPO_METRIC_PREFIX)
        self.log_metric("value_clipfrac", clipfrac * num_valid, num_valid, prefix=PPO_METRIC_PREFIX)
        self.log_metric("critic_warmup", float(self.in_critic_warmup()), 1.0, prefix=PPO_METRIC_PREFIX)
        return self.ppo["ppo_vf_coef"] * loss

    def _compute_loss(self, model, inputs):
        if not self.in_critic_warmup():
            return super()._compute_loss(model, inputs)
        # Critic warm-up: the value loss alone, so the policy gets no gradient (and AdamW leaves it unchanged).
        with self._open_loss_pass(inputs):
            return self._value_loss(inputs, loss_mask(inputs)) / self.current_gradient_accumulation_steps

    def training_step(self, model, inputs, num_items_in_batch):
        loss = super().training_step(model, inputs, num_items_in_batch)
        # The last micro-batch of an optimizer step: the critic's gradients are complete (the policy's optimizer
        # steps right after this returns).
        if self._step % self.current_gradient_accumulation_steps == 0:
            if self.args.max_grad_norm is not None and self.args.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(self.critic.parameters(), self.args.max_grad_norm)
            self.critic_optimizer.step()
            self.critic_optimizer.zero_grad(set_to_none=True)
        return loss

    # ------------------------------------------------------------------------------------------------------------
    # Saving and resuming
    # ------------------------------------------------------------------------------------------------------------

    def _save_extra_weights(self, output_dir: str) -> None:
        # Called by `save_model` for the final model and, through `_save_checkpoint`, for every checkpoint, before
        # the card is written: the critic goes alongside the policy.
        if self.accelerator.is_main_process:
            critic_dir = os.path.join(output_dir, CRITIC_DIRNAME)
            critic = self.accelerator.unwrap_model(self.critic)
            critic.save_pretrained(critic_dir, safe_serialization=True)
            if not isinstance(critic, CausalLMCritic):  # which writes its own marker
                with open(os.path.join(critic_dir, CRITIC_MARKER_NAME), "w") as f:
                    f.write('{"saved_by": "trl_entropy.PPOTrainer"}\n')

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        if self.accelerator.is_main_process:
            checkpoint_dir = os.path.join(self._get_output_dir(trial=trial), f"checkpoint-{self.state.global_step}")
            if os.path.isdir(os.path.join(checkpoint_dir, CRITIC_DIRNAME)):
                torch.save(
                    self.critic_optimizer.state_dict(),
                    os.path.join(checkpoint_dir, CRITIC_DIRNAME, CRITIC_OPTIMIZER_NAME),
                )

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is not None:
            self.load_critic_checkpoint(checkpoint)

    def load_critic_checkpoint(self, checkpoint: str) -> None:
        """Load the critic and its optimizer state from a checkpoint folder written by this trainer (done by
        `train(resume_from_checkpoint=...)`)."""
        critic_dir = os.path.join(checkpoint, CRITIC_DIRNAME)
        if not os.path.isdir(critic_dir):
            raise FileNotFoundError(
                f"{checkpoint} has no `{CRITIC_DIRNAME}/` folder: it was not saved by a PPOTrainer, and resuming "
                "would restart the critic from scratch."
            )
        critic = self.accelerator.unwrap_model(self.critic)
        device = str(self.accelerator.device)
        if isinstance(critic, CausalLMCritic):
            load_causal_lm_critic_weights(critic, critic_dir, device)
        elif os.path.isfile(os.path.join(critic_dir, "adapter_model.safetensors")):  # a LoRA critic: adapters, head
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(critic, load_file(os.path.join(critic_dir, "adapter_model.safetensors"), device))
        else:
            critic.load_state_dict(read_weights(critic_dir, device))
        optimizer_path = os.path.join(critic_dir, CRITIC_OPTIMIZER_NAME)
        if os.path.isfile(optimizer_path):
            self.critic_optimizer.load_state_dict(
                torch.load(optimizer_path, map_location=self.accelerator.device, weights_only=True)
            )


class EntropyAdvantagePPOShaper(EntropyAdvantageShaper):
    """The entropy advantage on PPO's GAE advantages, with the paper's PPO default `alpha = 0.1`."""

    config_class = EntropyAdvantagePPOConfig


class EntropyAdvantagePPOTrainer(PPOTrainer):
    r"""
    PPO with entropy-based advantage shaping ([Reasoning with Exploration: An Entropy
    Perspective](https://huggingface.co/papers/2506.14758)): every token's GAE advantage gets
    `psi_t = min(alpha * H_t, |A_t| / kappa)` ([`~trl_entropy.functional.entropy_advantage`]) from the same forward
    as the policy loss (after whitening). Defaults are the paper's PPO ones, `alpha = 0.1`, `kappa = 2`. Logs the
    `entropy/advantage_*` statistics of [`EntropyAdvantageGRPOTrainer`] and the `ppo/` ones of [`PPOTrainer`].
    """

    _tag_names = ["trl", "ppo", "trl-entropy", "entropy-advantage"]
    _name = "Entropy-Advantage PPO"
    _paper = PAPER_2506_14758
    config_class = EntropyAdvantagePPOConfig
    _output_suffix = "EntropyAdvantage-PPO"
    component_classes = (EntropyAdvantagePPOShaper,)


def load_causal_lm_critic_weights(critic: CausalLMCritic, critic_dir: str, device: str = "cpu") -> None:
    """
    Load a saved critic folder into a [`CausalLMCritic`] in place, exactly (strict state dicts): the backbone's
    `model.safetensors` (or its shards), or a LoRA critic's `adapter_model.safetensors`, and `value_head.safetensors`.
    Critics saved by earlier versions (a token-classification model: `<prefix>.*` and `score.*` in one file, or PEFT's
    token-classification adapters of it) load too.
    """
    lora = critic.backbone is not critic.base_backbone
    adapter_path = os.path.join(critic_dir, "adapter_model.safetensors")
    head_path = os.path.join(critic_dir, VALUE_HEAD_NAME)
    if not os.path.isfile(head_path) and not os.path.isfile(adapter_path):  # an earlier token-classification critic
        if lora:
            raise ValueError(f"{critic_dir} holds a full critic, but this critic is a LoRA one (`ppo_critic_lora_r`).")
        backbone, head = split_legacy_weights(read_weights(critic_dir, device))
        critic.backbone.load_state_dict(backbone)
        critic.load_head(head)
        return
    if lora:
        from peft import get_peft_model_state_dict, set_peft_model_state_dict

        adapters = load_file(adapter_path, device=device)
        head = None
        if not os.path.isfile(head_path):
            # An earlier LoRA critic: PEFT's token-classification adapters of the whole model, whose keys hold the
            # backbone's prefix (`base_model.model.model.layers...`) and the head (`base_model.model.score.*`).
            head, adapters = split_legacy_lora_weights(adapters)
        expected = set(get_peft_model_state_dict(critic.backbone))
        if set(adapters) != expected:
            raise ValueError(
                f"{adapter_path}: its adapters are not the critic's (missing {sorted(expected - set(adapters))[:3]}, "
                f"unexpected {sorted(set(adapters) - expected)[:3]}): check `ppo_critic_lora_r` and the model."
            )
        set_peft_model_state_dict(critic.backbone, adapters)
        critic.load_head(head if head is not None else load_file(head_path, device=device))
        return
    if os.path.isfile(adapter_path):
        raise ValueError(f"{critic_dir} holds a LoRA critic, but this critic has no adapters (`ppo_critic_lora_r`).")
    critic.backbone.load_state_dict(read_weights(critic_dir, device))
    critic.load_head(load_file(head_path, device=device))


def split_legacy_lora_weights(adapters: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    """An earlier LoRA critic's adapter state dict (PEFT around a token-classification model) as the value head's
    state dict and the adapter state dict of a PEFT model around the backbone alone."""
    outer = "base_model.model."
    head_prefix = outer + LEGACY_HEAD_PREFIX
    head = {k[len(head_prefix) :]: v for k, v in adapters.items() if k.startswith(head_prefix)}
    if not head or not all(k.startswith(outer) for k in adapters):
        raise ValueError("A LoRA critic of an earlier version with unexpected adapter keys: cannot be resumed.")
    backbone = {
        outer + k[len(outer) :].partition(".")[2]: v for k, v in adapters.items() if not k.startswith(head_prefix)
    }
    return head, backbone


def _model_path(model, loaded) -> str:
    if isinstance(model, str):
        return model
    path = getattr(loaded.config, "_name_or_path", None) or getattr(model, "name_or_path", None)
    if not path:
        raise ValueError("The policy was given as a loaded model without a checkpoint path: pass `critic_model=`.")
    return path


__all__ = ["CausalLMCritic", "EntropyAdvantagePPOTrainer", "PPOTrainer", "load_critic"]
