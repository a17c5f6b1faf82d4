# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""PPO's critic for any causal LM: the backbone of the causal LM (the module its LM head reads) and a scalar value head.

`AutoModelForTokenClassification` has no class for many causal LMs (Gemma 3, OLMo 2, Granite, ... in transformers 5),
so the critic is built from what every causal LM has: `AutoModelForCausalLM`'s class for the checkpoint's configuration
and its base model (`base_model_prefix`, the module `model.base_model` returns). Only the backbone's weights are
loaded (the LM head is never materialised); the value head is a `torch.nn.Linear(hidden_size, 1)`.

A saved critic (`CausalLMCritic.save_pretrained`) is a folder that needs no custom class registration:

    critic/config.json                 the backbone's configuration (`architectures`: e.g. `["Gemma3TextModel"]`)
    critic/model.safetensors           the backbone's weights (`save_pretrained`; or `adapter_model.safetensors` and
                                       `adapter_config.json` for a LoRA critic, the adapters alone)
    critic/value_head.safetensors      the head: `weight` `(1, hidden_size)` and `bias` `(1,)`
    critic/critic_config.json          the marker: who saved it, the critic's class, the backbone's class, hidden size

Critics saved before this module (`AutoModelForTokenClassification`, `score.*` in `model.safetensors`) still load.
"""

import json
import os
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModelForCausalLM
from transformers.modeling_outputs import TokenClassifierOutput


CRITIC_MARKER_NAME = "critic_config.json"
VALUE_HEAD_NAME = "value_head.safetensors"
CRITIC_FORMAT = "backbone+value_head"
# The head's parameters under the token-classification critics of earlier versions.
LEGACY_HEAD_PREFIX = "score."


def _causal_lm_class_name(config) -> str:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    return MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(getattr(config, "model_type", None), "?")


def critic_backbone_spec(model_name_or_path: str, config=None) -> tuple[type, Any, int]:
    """
    Check that a checkpoint can give PPO's critic a backbone, without loading any weight: the causal LM of its
    configuration is built on the `meta` device, and its base model must be a module of its own with a known hidden
    size. Returns the backbone's class, its configuration and the hidden size.

    Raises `ValueError` naming the checkpoint and what is missing (no causal LM class for the configuration, no base
    model, no hidden size).
    """
    if config is None:
        config = AutoConfig.from_pretrained(model_name_or_path)
    name = f"{model_name_or_path!r} ({type(config).__name__}, model_type {getattr(config, 'model_type', None)!r})"
    try:
        with torch.device("meta"):
            skeleton = AutoModelForCausalLM.from_config(config)
    except ValueError as error:
        raise ValueError(
            f"PPO's critic cannot be built from {name}: `AutoModelForCausalLM` has no class for its configuration, "
            f"so it has no causal LM backbone. Pass `critic_model=` (a loaded model returning per-token `logits` "
            f"`(B, L, 1)`) or `ppo_critic_model_name_or_path` (a causal LM checkpoint). ({error})"
        ) from None
    prefix = getattr(skeleton, "base_model_prefix", "") or ""
    backbone = getattr(skeleton, prefix, None) if prefix else None
    if not isinstance(backbone, torch.nn.Module) or backbone is skeleton:
        raise ValueError(
            f"PPO's critic cannot be built from {name}: its causal LM class {type(skeleton).__name__} has no base "
            f"model module (`base_model_prefix` is {prefix!r}, and no such attribute holds a module), which the "
            "critic needs as its backbone. Pass `critic_model=` (a loaded model returning per-token `logits` "
            "`(B, L, 1)`)."
        )
    head = skeleton.get_output_embeddings() if hasattr(skeleton, "get_output_embeddings") else None
    hidden_size = getattr(head, "in_features", None)
    if hidden_size is None:
        text_config = backbone.config.get_text_config() if hasattr(backbone.config, "get_text_config") else None
        hidden_size = getattr(text_config, "hidden_size", None) or getattr(backbone.config, "hidden_size", None)
    if not isinstance(hidden_size, int):
        raise ValueError(
            f"PPO's critic cannot be built from {name}: the hidden size of its backbone {type(backbone).__name__} is "
            "unknown (no LM head with `in_features`, no `hidden_size` in its configuration)."
        )
    return type(backbone), backbone.config, hidden_size


class CausalLMCritic(torch.nn.Module):
    """
    PPO's critic: a causal LM's backbone and a scalar value head on its last hidden states.

    `forward(input_ids, attention_mask)` returns a `TokenClassifierOutput` whose `logits` `(B, L, 1)` are the values at
    every position (the protocol of a one-label token-classification model). The head has the backbone's dtype and no
    dropout (the values are regression targets).

    Args:
        backbone (`torch.nn.Module`):
            The causal LM's base model (e.g. `Gemma3TextModel`), or a PEFT model wrapping it (a LoRA critic).
        hidden_size (`int`):
            Width of the backbone's last hidden states.
    """

    def __init__(self, backbone: torch.nn.Module, hidden_size: int):
        super().__init__()
        self.backbone = backbone
        parameter = next(backbone.parameters(), None)
        dtype = parameter.dtype if parameter is not None else None
        self.value_head = torch.nn.Linear(hidden_size, 1, dtype=dtype)
        # FSDP's auto-wrap reads the decoder-layer classes from the model it prepares.
        self._no_split_modules = getattr(self.base_backbone, "_no_split_modules", None)

    @property
    def base_backbone(self) -> torch.nn.Module:
        """The backbone under any PEFT wrapping (the transformers model)."""
        backbone = self.backbone
        return backbone.get_base_model() if hasattr(backbone, "get_base_model") else backbone

    @property
    def config(self):
        return self.base_backbone.config

    def zero_head(self) -> None:
        """Every value 0: the first advantages are then the whitened outcome rewards."""
        with torch.no_grad():
            self.value_head.weight.zero_()
            self.value_head.bias.zero_()

    def forward(self, input_ids=None, attention_mask=None, **kwargs) -> TokenClassifierOutput:
        kwargs.setdefault("use_cache", False)
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        return TokenClassifierOutput(logits=self.value_head(hidden.to(self.value_head.weight.dtype)))

    def load_head(self, head: dict[str, torch.Tensor]) -> None:
        """Load the value head from a state dict (`weight`, and `bias` unless the saved head had none: then 0)."""
        dtype = self.value_head.weight.dtype
        head = {name: tensor.to(dtype) for name, tensor in head.items()}
        if "bias" not in head:
            head["bias"] = torch.zeros_like(self.value_head.bias)
        self.value_head.load_state_dict(head)

    def save_pretrained(self, save_directory: str, **kwargs) -> None:
        """The backbone with its own `save_pretrained` (safetensors), the head as `value_head.safetensors` and the
        `critic_config.json` marker. Takes `save_pretrained`'s keyword arguments (e.g. `state_dict`)."""
        os.makedirs(save_directory, exist_ok=True)
        kwargs.setdefault("safe_serialization", True)
        self.backbone.save_pretrained(save_directory, **kwargs)
        head = {name: tensor.detach().contiguous().cpu() for name, tensor in self.value_head.state_dict().items()}
        save_file(head, os.path.join(save_directory, VALUE_HEAD_NAME))
        marker = {
            "saved_by": "trl_entropy.PPOTrainer",
            "critic_class": type(self).__name__,
            "format": CRITIC_FORMAT,
            "backbone_class": type(self.base_backbone).__name__,
            "hidden_size": self.value_head.in_features,
            "lora": self.backbone is not self.base_backbone,
        }
        with open(os.path.join(save_directory, CRITIC_MARKER_NAME), "w") as f:
            f.write(json.dumps(marker, indent=2) + "\n")


def is_saved_critic(path: str) -> bool:
    return os.path.isfile(os.path.join(path, CRITIC_MARKER_NAME))


def read_weights(directory: str, device: str = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of `model.safetensors`, or of every shard that `model.safetensors.index.json` lists."""
    index_path = os.path.join(directory, "model.safetensors.index.json")
    if os.path.isfile(index_path):
        with open(index_path) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        weights = {}
        for shard in shards:
            weights.update(load_file(os.path.join(directory, shard), device=device))
        return weights
    return load_file(os.path.join(directory, "model.safetensors"), device=device)


def split_legacy_weights(weights: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """A token-classification critic's state dict (`<prefix>.*` backbone, `score.*` head) as the backbone's and the
    head's state dicts."""
    head = {k[len(LEGACY_HEAD_PREFIX) :]: v for k, v in weights.items() if k.startswith(LEGACY_HEAD_PREFIX)}
    backbone = {k.partition(".")[2]: v for k, v in weights.items() if not k.startswith(LEGACY_HEAD_PREFIX)}
    return backbone, head


def load_head_weights(critic_dir: str, device: str = "cpu") -> dict[str, torch.Tensor] | None:
    """The value head saved in a critic folder (`value_head.safetensors`, or a legacy critic's `score.*`); `None`
    when there is none."""
    path = os.path.join(critic_dir, VALUE_HEAD_NAME)
    if os.path.isfile(path):
        return load_file(path, device=device)
    if os.path.isfile(os.path.join(critic_dir, "model.safetensors")) or os.path.isfile(
        os.path.join(critic_dir, "model.safetensors.index.json")
    ):
        head = split_legacy_weights(read_weights(critic_dir, device))[1]
        return head or None
    return None


def load_critic(model_name_or_path: str, dtype: Any = "auto") -> CausalLMCritic:
    """
    A critic from a causal LM checkpoint: its backbone (the base model of `AutoModelForCausalLM`'s class, only its
    weights loaded, no remote code) and a scalar value head initialised to zero, so that every value starts at 0. A
    critic folder saved by [`PPOTrainer`] (`critic/`, also one of an earlier token-classification critic) keeps its
    trained head.

    Args:
        model_name_or_path (`str`):
            Checkpoint of the backbone (a policy checkpoint, or a critic saved by [`PPOTrainer`]).
        dtype (`str` or `torch.dtype`, *optional*, defaults to `"auto"`):
            Dtype of the weights.

    Raises `ValueError`, before loading any weight, when the checkpoint's architecture has no causal LM backbone, and
    when a backbone weight is missing from the checkpoint.
    """
    backbone_class, backbone_config, hidden_size = critic_backbone_spec(model_name_or_path)
    backbone, info = backbone_class.from_pretrained(
        model_name_or_path, config=backbone_config, dtype=dtype, output_loading_info=True
    )
    if info["missing_keys"]:
        missing = sorted(info["missing_keys"])
        raise ValueError(
            f"PPO's critic: {model_name_or_path!r} lacks {len(missing)} weights of its backbone "
            f"{backbone_class.__name__} (e.g. {missing[:3]}): it would start from random weights."
        )
    critic = CausalLMCritic(backbone, hidden_size)
    head = load_head_weights(model_name_or_path) if is_saved_critic(model_name_or_path) else None
    if head is None:
        critic.zero_head()
    else:
        critic.load_head(head)
    return critic


def lora_critic(critic: CausalLMCritic, r: int, alpha: int | None = None) -> CausalLMCritic:
    """The critic with LoRA adapters of rank `r` on every linear layer of its backbone (frozen); its value head, outside
    the PEFT model, trains in full."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha or 2 * r, target_modules="all-linear")
    critic.backbone = get_peft_model(critic.backbone, config)
    return critic


__all__ = ["CausalLMCritic", "critic_backbone_spec", "load_critic", "lora_critic"]
