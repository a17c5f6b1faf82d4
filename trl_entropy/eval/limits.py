# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""
Generation limits checked before any sampling: a prompt plus its completion must fit in the model's positions.

A model asked for more positions than it has does not fail quickly: with HF `generate` it can run for a long time
producing nothing usable (rotary models past their trained range) or fail deep inside attention. The evaluator, the
SENT scorer and the training recipe check the limit up front instead, with a message that names both numbers and the
fix. Importing this module loads nothing heavy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any


# Config fields that hold the number of positions, as the model families of `transformers` name them.
POSITION_FIELDS = (
    "max_position_embeddings",
    "n_positions",
    "max_seq_len",
    "seq_length",
    "n_ctx",
    "max_sequence_length",
)
# Rope types whose `factor` extends the positions beyond `max_position_embeddings` (as vLLM reads them).
_EXTENDING_ROPE_TYPES = ("linear", "yarn", "dynamic")


class GenerationLimitError(ValueError):
    """Prompts plus `max_new_tokens` exceed the model's positions."""


def _as_dict(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, dict):
        return config
    if isinstance(config, str | os.PathLike):
        path = os.path.join(os.fspath(config), "config.json") if os.path.isdir(config) else os.fspath(config)
        with open(path) as f:
            return json.load(f)
    if hasattr(config, "to_dict"):
        return config.to_dict()
    return dict(vars(config))


def max_positions(model_config: Any) -> int | None:
    """
    The number of positions (prompt plus completion) a model can attend over, from its config.

    Args:
        model_config (`transformers.PretrainedConfig`, `dict`, `str` or `None`):
            A config object, a config as a dict, a checkpoint directory or a `config.json` path. A multimodal config's
            `text_config` is read when the top level has no position field.

    Returns:
        `int` or `None`: The first of [`POSITION_FIELDS`] found (raised by a linear/YaRN/dynamic rope scaling `factor`,
        which only makes the limit more lenient), or `None` when the config names no limit.
    """
    config = _as_dict(model_config)
    for candidate in (config, config.get("text_config") or {}):
        if not isinstance(candidate, dict):
            candidate = _as_dict(candidate)
        limit = next((candidate[name] for name in POSITION_FIELDS if isinstance(candidate.get(name), int)), None)
        if limit is None:
            continue
        scaling = candidate.get("rope_scaling") or candidate.get("rope_parameters") or {}
        if isinstance(scaling, dict):
            rope_type = scaling.get("rope_type") or scaling.get("type")
            factor = scaling.get("factor")
            if rope_type in _EXTENDING_ROPE_TYPES and isinstance(factor, int | float) and factor > 1:
                base = scaling.get("original_max_position_embeddings") or limit
                limit = max(limit, int(base * factor))
        return limit
    return None


def check_generation_fits(
    prompt_lengths_or_max: int | Sequence[int],
    max_new_tokens: int,
    model_config: Any,
    what: str = "--max-new-tokens",
) -> int | None:
    """
    Refuse, before any generation, a length cap that the model's positions cannot hold.

    Args:
        prompt_lengths_or_max (`int` or `Sequence[int]`):
            The prompt lengths in tokens (as tokenized for generation), or the longest one.
        max_new_tokens (`int`):
            Completion tokens asked for.
        model_config (`transformers.PretrainedConfig`, `dict`, `str` or `None`):
            See [`max_positions`]. With no position field (or `None`) there is nothing to check.
        what (`str`, *optional*, defaults to `"--max-new-tokens"`):
            How the caller names the length cap in the message (a flag or a config field, e.g.
            `"max_completion_length"`).

    Returns:
        `int` or `None`: The model's positions, `None` when unknown.

    Raises:
        [`GenerationLimitError`] (a `ValueError`): when the longest prompt plus `max_new_tokens` exceeds the
        positions; the message names both numbers and the largest `what` that fits.
    """
    longest = (
        prompt_lengths_or_max if isinstance(prompt_lengths_or_max, int) else max(prompt_lengths_or_max, default=0)
    )
    limit = max_positions(model_config)
    if limit is None or longest + max_new_tokens <= limit:
        return limit
    if longest >= limit:
        raise GenerationLimitError(
            f"The longest prompt is {longest} tokens, and the model has {limit} positions "
            "(`max_position_embeddings` or equivalent in its config): no completion fits. Use shorter prompts or a "
            "model with a longer context."
        )
    raise GenerationLimitError(
        f"The longest prompt ({longest} tokens) plus {what} {max_new_tokens} needs {longest + max_new_tokens} "
        f"positions, but the model has {limit} (`max_position_embeddings` or equivalent in its config); "
        f"pass {what} {limit - longest} or less."
    )


def prompt_token_lengths(tokenizer: Any, prompts: Sequence[str], add_special_tokens: bool) -> list[int]:
    """
    The length in tokens of each prompt, tokenized as generation tokenizes it.

    Args:
        tokenizer (`transformers.PreTrainedTokenizerBase`):
            The policy's tokenizer.
        prompts (`Sequence[str]`):
            Prompt texts.
        add_special_tokens (`bool`):
            Whether generation adds the tokenizer's special tokens (e.g. BOS).

    Returns:
        `list[int]`: One length per prompt.
    """
    if not prompts:
        return []
    encoded = tokenizer(list(prompts), add_special_tokens=add_special_tokens)["input_ids"]
    return [len(ids) for ids in encoded]
