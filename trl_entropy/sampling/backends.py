# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""
Generation backends: `model.generate` (HF) and `vllm.LLM`, and the pieces every sampling loop shares around them
(seeded and forked RNG, evaluation mode, EOS handling, left padding).

A backend is wrapped as `generate(prompts, seed)` for [`~trl_entropy.sampling.chunks.sample_chunks`]: per prompt,
per sample, a dict with `text` (special tokens removed), `num_tokens` (up to and including EOS) and `truncated` (no
EOS within `max_new_tokens`). torch, transformers and vLLM are imported where they are used.
"""

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any


BACKENDS = ("hf", "vllm")

Sampler = Callable[[Sequence[Any], int], list[list[dict[str, Any]]]]


def model_device(model) -> Any:
    """The device of `model`, the CPU for a model without one."""
    import torch

    device = getattr(model, "device", None)
    return device if device is not None else torch.device("cpu")


def rng_devices(device) -> list[int]:
    """The CUDA devices whose RNG `torch.random.fork_rng` must save for generation on `device`."""
    return [device.index or 0] if device.type == "cuda" else []


@contextlib.contextmanager
def seeded_generation(device, seed: int | None) -> Iterator[None]:
    """
    Generate under `seed` without changing the caller's random stream: the global torch RNG (and that of `device`)
    is forked, seeded with `seed` (left as it is when `seed` is `None`: the caller seeded the fork's stream), and
    gradients are off.

    Args:
        device (`torch.device`):
            The device generation runs on.
        seed (`int` or `None`):
            Seed of the forked RNG.
    """
    import torch

    with torch.random.fork_rng(devices=rng_devices(device)), torch.no_grad():
        if seed is not None:
            torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def eval_mode(model) -> Iterator[None]:
    """Put `model` in evaluation mode for the block (no dropout while sampling), and back in training mode after
    it when it was training."""
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        yield
    finally:
        if was_training:
            model.train()


def pad_token_id(tokenizer) -> int:
    """The tokenizer's padding id, its EOS id when it has none."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def eos_token_ids(model, tokenizer) -> set[int]:
    """The ids that end a completion: the model's generation config's EOS ids, else the tokenizer's."""
    eos_ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    return {eos_ids} if isinstance(eos_ids, int) else set(eos_ids or [tokenizer.eos_token_id])


def cut_at_eos(ids: Sequence[int], eos_ids: set[int]) -> tuple[list[int], bool]:
    """
    A generated sequence up to and including its first EOS.

    Args:
        ids (`Sequence[int]`):
            The generated ids (padding after EOS included).
        eos_ids (`set[int]`):
            The EOS ids.

    Returns:
        `tuple[list[int], bool]`: The kept ids, and whether there was no EOS (the sequence hit the length cap).
    """
    end = next((i + 1 for i, token in enumerate(ids) if token in eos_ids), None)
    return (list(ids) if end is None else list(ids[:end])), end is None


def sampling_options(temperature: float, top_p: float) -> dict[str, Any]:
    """The `generate` keyword arguments of a temperature and a nucleus threshold: no top-k truncation, and greedy
    decoding at temperature 0."""
    if temperature == 0:
        return {"do_sample": False}
    return {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0}


def left_padded(sequences: Sequence[Sequence[int]], pad_id: int, device) -> tuple[Any, Any]:
    """
    Token-id sequences as one left-padded batch.

    Args:
        sequences (`Sequence[Sequence[int]]`):
            The sequences.
        pad_id (`int`):
            Id written in the padding (masked out).
        device (`torch.device`):
            Where the tensors go.

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: `input_ids` and `attention_mask`, `(len(sequences), longest)`.
    """
    import torch

    width = max(len(sequence) for sequence in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        if sequence:
            input_ids[row, width - len(sequence) :] = torch.tensor(list(sequence), dtype=torch.long)
            attention_mask[row, width - len(sequence) :] = 1
    return input_ids.to(device), attention_mask.to(device)


def tokenize_prompts(tokenizer, prompts: Sequence[str], add_special_tokens: bool, device):
    """
    Prompt texts as one left-padded batch: left padding keeps every prompt flush against its completion, which
    batched decoder-only generation needs (the tokenizer is set to left padding).

    Args:
        tokenizer (`transformers.PreTrainedTokenizerBase`):
            The tokenizer.
        prompts (`Sequence[str]`):
            The prompt texts.
        add_special_tokens (`bool`):
            Let the tokenizer add its special tokens (e.g. BOS).
        device (`torch.device`):
            Where the tensors go.

    Returns:
        `transformers.BatchEncoding`: `input_ids` and `attention_mask`.
    """
    tokenizer.padding_side = "left"
    inputs = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=add_special_tokens)
    return inputs.to(device)


def generate_hf(
    model,
    tokenizer,
    prompts: Sequence[str],
    num_samples: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    add_special_tokens: bool,
    seed: int,
) -> list[list[dict[str, Any]]]:
    """
    Sample `num_samples` completions per prompt with `model.generate` in one call.

    The global torch RNG is forked: evaluating inside a training run does not change the run's random stream.

    Args:
        model (`transformers.PreTrainedModel`):
            The policy.
        tokenizer (`transformers.PreTrainedTokenizerBase`):
            Its tokenizer (set to left padding here).
        prompts (`Sequence[str]`):
            The prompt texts.
        num_samples (`int`):
            Completions per prompt.
        temperature (`float`), top_p (`float`):
            Sampling settings (no top-k truncation; temperature 0 is greedy).
        max_new_tokens (`int`):
            Length cap.
        add_special_tokens (`bool`):
            Let the tokenizer add its special tokens (e.g. BOS) to the prompts.
        seed (`int`):
            Seed of the forked RNG.

    Returns:
        `list[list[dict]]`: Per prompt, per sample: `text` (special tokens removed), `num_tokens` (up to and
        including EOS) and `truncated` (no EOS within `max_new_tokens`).
    """
    inputs = tokenize_prompts(tokenizer, prompts, add_special_tokens, model.device)
    eos_ids = eos_token_ids(model, tokenizer)
    with seeded_generation(model.device, seed):
        output = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            num_return_sequences=num_samples,
            pad_token_id=pad_token_id(tokenizer),
            **sampling_options(temperature, top_p),
        )
    completion_ids = output[:, inputs["input_ids"].shape[1] :].tolist()
    samples = []
    for ids in completion_ids:
        kept, truncated = cut_at_eos(ids, eos_ids)
        samples.append(
            {"text": tokenizer.decode(kept, skip_special_tokens=True), "num_tokens": len(kept), "truncated": truncated}
        )
    # `generate` returns the samples of each prompt contiguously.
    return [samples[i * num_samples : (i + 1) * num_samples] for i in range(len(prompts))]


def hf_sampler(
    model,
    tokenizer,
    num_samples: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    add_special_tokens: bool,
) -> Sampler:
    """`generate(prompts, seed)` for [`~trl_entropy.sampling.chunks.sample_chunks`], sampling with [`generate_hf`]
    (looked up at every call, so that tests can count or replace the calls)."""
    from . import backends

    def generate(prompts, seed):
        return backends.generate_hf(
            model, tokenizer, prompts, num_samples, temperature, top_p, max_new_tokens, add_special_tokens, seed
        )

    return generate


def _generate_with_tokenizer_eos(model, tokenizer, prompts, num_samples, temperature, max_new_tokens, **extra):
    # `generate` on bare prompts (no special tokens) with the tokenizer's own padding and EOS ids, no top-k or top-p
    # truncation, greedy for temperature 0 or None: the sampling of the tiny policies' build and training checks.
    inputs = tokenize_prompts(tokenizer, prompts, False, model.device)
    output = model.generate(
        **inputs,
        **sampling_options(temperature or 0, 1.0),
        max_new_tokens=max_new_tokens,
        num_return_sequences=num_samples,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **extra,
    )
    return output, inputs["input_ids"].shape[1]


def generate_hf_texts(
    model, tokenizer, prompts: Sequence[str], num_samples: int, temperature: float | None, max_new_tokens: int
) -> list[str]:
    """
    Sample `num_samples` completions per prompt with `model.generate` (no top-k or top-p truncation; greedy when
    `temperature` is 0 or `None`), tokenizing the prompts without special tokens and stopping at the tokenizer's EOS.
    The caller owns the RNG (see [`seeded_generation`]).

    Args:
        model (`transformers.PreTrainedModel`):
            The policy.
        tokenizer (`transformers.PreTrainedTokenizerBase`):
            Its tokenizer (set to left padding here).
        prompts (`Sequence[str]`):
            The prompt texts.
        num_samples (`int`):
            Completions per prompt.
        temperature (`float` or `None`):
            Sampling temperature; 0 or `None` decodes greedily.
        max_new_tokens (`int`):
            Length cap.

    Returns:
        `list[str]`: The completion texts, contiguous per prompt, special tokens removed.
    """
    import torch

    with torch.no_grad():
        output, width = _generate_with_tokenizer_eos(
            model, tokenizer, prompts, num_samples, temperature, max_new_tokens
        )
    return tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)


def generate_hf_with_entropy(
    model, tokenizer, prompts: Sequence[str], num_samples: int, temperature: float, max_new_tokens: int
) -> tuple[list[str], float, float]:
    """
    Same as [`generate_hf_texts`] at a positive `temperature`, and the sum of the entropy of the sampling
    distribution over the sampled tokens, EOS included.

    Args:
        model (`transformers.PreTrainedModel`):
            The policy.
        tokenizer (`transformers.PreTrainedTokenizerBase`):
            Its tokenizer (set to left padding here).
        prompts (`Sequence[str]`):
            The prompt texts.
        num_samples (`int`):
            Completions per prompt.
        temperature (`float`):
            Sampling temperature (> 0).
        max_new_tokens (`int`):
            Length cap.

    Returns:
        `tuple[list[str], float, float]`: The completion texts (contiguous per prompt, special tokens removed), the
        entropy sum (nats) and the number of tokens it is summed over.
    """
    import torch

    with torch.no_grad():
        output, width = _generate_with_tokenizer_eos(
            model,
            tokenizer,
            prompts,
            num_samples,
            temperature,
            max_new_tokens,
            output_logits=True,
            return_dict_in_generate=True,
        )
        # `output_logits` are the raw logits; samples were drawn from their temperature-scaled softmax.
        logits = torch.stack(output.logits, dim=1).float() / temperature
        log_probs = logits.log_softmax(-1)
        entropy = -(log_probs.exp() * log_probs).sum(-1)
    completion = output.sequences[:, width:]
    # Positions after the EOS are padding appended by `generate`; the EOS step itself counts.
    is_eos = (completion == tokenizer.eos_token_id).long()
    mask = ((is_eos.cumsum(-1) - is_eos) == 0).float()
    texts = tokenizer.batch_decode(completion, skip_special_tokens=True)
    return texts, float((entropy * mask).sum()), float(mask.sum())


def generate_vllm(llm, prompts, num_samples, temperature, top_p, max_new_tokens, seed) -> list[list[dict[str, Any]]]:
    """Same as [`generate_hf`] with a `vllm.LLM`."""
    from vllm import SamplingParams

    params = SamplingParams(n=num_samples, temperature=temperature, top_p=top_p, max_tokens=max_new_tokens, seed=seed)
    outputs = llm.generate(list(prompts), params, use_tqdm=False)
    return [
        [
            {
                "text": sample.text,
                "num_tokens": len(sample.token_ids),
                "truncated": sample.finish_reason == "length",
            }
            for sample in output.outputs
        ]
        for output in outputs
    ]


def vllm_sampler(
    model_path: str,
    dtype: str,
    seed: int,
    num_samples: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    world_size: int = 1,
    revision: str | None = None,
) -> tuple[Sampler, Any]:
    """
    Start a `vllm.LLM` on `model_path` and return `generate(prompts, seed)` sampling with [`generate_vllm`], and the
    engine's tokenizer.

    Args:
        model_path (`str`):
            Checkpoint directory or Hub id.
        dtype (`str`):
            Dtype of the engine.
        seed (`int`):
            Seed of the engine (every call also passes its chunk's seed).
        num_samples (`int`), temperature (`float`), top_p (`float`), max_new_tokens (`int`):
            Sampling settings.
        world_size (`int`, *optional*, defaults to `1`):
            Processes of the run: vLLM runs in one (it parallelises itself).
        revision (`str`, *optional*):
            Revision of a Hub id.

    Returns:
        `tuple`: `generate(prompts, seed)` and the engine's tokenizer.
    """
    if world_size > 1:
        raise ValueError(
            "The vLLM backend runs in one process (vLLM parallelises itself); launch without accelerate/torchrun."
        )
    try:
        from vllm import LLM
    except ImportError as error:
        raise ImportError("`backend='vllm'` needs vLLM: `pip install vllm`.") from error
    llm = LLM(model=model_path, dtype=dtype, seed=seed, **({} if revision is None else {"revision": revision}))

    def generate(prompts, chunk_seed_value):
        return generate_vllm(llm, prompts, num_samples, temperature, top_p, max_new_tokens, chunk_seed_value)

    return generate, llm.get_tokenizer()
