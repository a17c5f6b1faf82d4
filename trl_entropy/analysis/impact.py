# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""
Performance impact I_t of a completion's tokens (arXiv 2508.02260, Deng et al.).

For a position `t` of a sampled completion `o` of a prompt `x`, the token `o_t` is replaced by its best alternative
(the policy's most likely token at that position other than `o_t`); `k` continuations are sampled from the original
prefix `x, o_<t, o_t` and `k` from the replaced prefix `x, o_<t, alt_t`, each full completion (the completion prefix
plus its continuation) is graded, and

    I_t = acc(original prefix) - acc(replaced prefix).

A positive I_t means the sampled token mattered for success. Only a sampled budget of positions is measured
([`choose_impact_positions`]): every position costs `2 * k` continuations.

Sampling runs through the shared chunk loop ([`~trl_entropy.sampling.chunks.sample_chunks`]): every position is
one item whose two prefixes are generated in the same chunk, every chunk has its own seed, so the records do not
depend on how many processes share the work or on which chunks an interrupted run had already finished.
"""

from __future__ import annotations

import bisect
import os
import random
from collections.abc import Callable, Sequence
from typing import Any

from ..eval.limits import check_generation_fits
from ..sampling.backends import (
    cut_at_eos,
    eos_token_ids,
    eval_mode,
    left_padded,
    model_device,
    pad_token_id,
    sampling_options,
    seeded_generation,
)
from ..sampling.cache import SampleCache, append_jsonl, finish_parts, load_done_records, merge_records, part_pattern_of
from ..sampling.chunks import sample_chunks
from ..sampling.processes import barrier, gather_objects, process_info


# The helpers this module defined or imported from the evaluator before the sampling layer held them, under their
# old names.
_device = model_device
_left_padded = left_padded
_eos_ids = eos_token_ids
_append_jsonl, _finish_parts, _load_done_records = append_jsonl, finish_parts, load_done_records
_barrier, _gather, _process_info = barrier, gather_objects, process_info


# A prefix given to the generator: the prompt's token ids and the completion's tokens so far (the replaced or original
# token at position `t` included).
Prefix = tuple[Sequence[int], Sequence[int]]


def _check(name: str, value: Any, valid: bool, valid_range: str) -> None:
    if not valid:
        raise ValueError(f"`{name}` must be {valid_range}, got {value!r}.")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_impact_settings(
    k: int, temperature: float, top_p: float, max_new_tokens: int, batch_size: int = 1, budget: int = 0
) -> None:
    """Raise a `ValueError` naming the first invalid setting of [`performance_impact`]."""
    _check("budget", budget, _is_int(budget) and budget >= 0, "an integer >= 0")
    _check("k", k, _is_int(k) and k >= 1, "an integer >= 1")
    # Greedy continuations would all be the same: I_t would only say whether one continuation succeeds.
    _check(
        "temperature",
        temperature,
        isinstance(temperature, int | float) and temperature > 0,
        "> 0 (I_t is an accuracy over sampled continuations; greedy decoding is not supported)",
    )
    _check("top_p", top_p, isinstance(top_p, int | float) and 0 < top_p <= 1, "in (0, 1]")
    _check("max_new_tokens", max_new_tokens, _is_int(max_new_tokens) and max_new_tokens >= 1, "an integer >= 1")
    _check("batch_size", batch_size, _is_int(batch_size) and batch_size >= 1, "an integer >= 1")


def _completions_by_id(completions: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by_id = {}
    for completion in completions:
        for key in ("id", "prompt_ids", "completion_ids"):
            if key not in completion:
                raise ValueError(f"Every completion needs `id`, `prompt_ids` and `completion_ids`; one lacks `{key}`.")
        if completion["id"] in by_id:
            raise ValueError(f"Completion ids must be unique: {completion['id']!r} appears twice.")
        by_id[completion["id"]] = completion
    return by_id


def choose_impact_positions(completions: Sequence[dict[str, Any]], budget: int, seed: int) -> list[dict[str, Any]]:
    """
    Draw the positions whose performance impact is measured: `budget` (completion, position) pairs uniformly without
    replacement over all positions of all completions.

    Args:
        completions (`Sequence[dict]`):
            The sampled completions, each with at least `id` (`str`, unique), `prompt_ids` (`list[int]`) and
            `completion_ids` (`list[int]`, EOS included when it was generated).
        budget (`int`):
            Number of positions; all of them when it exceeds the total.
        seed (`int`):
            Seed of the draw (`random.Random(seed)`).

    Returns:
        `list[dict]`: `min(budget, total positions)` items `{"id": f"{completion id}:{t}", "completion": completion id,
        "t": t}`, in the order of `completions`, then of `t`; the same inputs always give the same items.
    """
    _check("budget", budget, _is_int(budget) and budget >= 0, "an integer >= 0")
    _completions_by_id(completions)
    # The positions are numbered completion after completion; a draw of numbers maps back through the offsets.
    offsets = [0]
    for completion in completions:
        offsets.append(offsets[-1] + len(completion["completion_ids"]))
    total = offsets[-1]
    drawn = sorted(random.Random(seed).sample(range(total), min(budget, total)))
    items = []
    for index in drawn:
        which = bisect.bisect_right(offsets, index) - 1
        completion_id = completions[which]["id"]
        t = index - offsets[which]
        items.append({"id": f"{completion_id}:{t}", "completion": completion_id, "t": t})
    return items


def best_alternatives(
    model,
    items: Sequence[dict[str, Any]],
    completions: Sequence[dict[str, Any]],
    batch_size: int = 64,
    pad_token_id: int = 0,
) -> list[dict[str, Any]]:
    """
    The best alternative to each item's token: the policy's most likely token at position `t` other than the sampled
    one, from one forward pass on `prompt_ids + completion_ids[:t]`.

    The prefixes are batched with left padding, an attention mask and position ids counted from the first real token
    (so a padded prefix sees the positions it would see alone), and only the last position's logits are computed
    (`logits_to_keep=1`): at most `(batch_size, vocab)` logits at a time. Ties go to the lower token id.

    Args:
        model (`transformers.PreTrainedModel`):
            The policy (a causal LM whose forward accepts `input_ids`, `attention_mask`, `position_ids` and
            `logits_to_keep`).
        items (`Sequence[dict]`):
            Positions from [`choose_impact_positions`] (`completion` and `t` are read).
        completions (`Sequence[dict]`):
            The completions the items point to (by `id`).
        batch_size (`int`, *optional*, defaults to `64`):
            Prefixes per forward pass.
        pad_token_id (`int`, *optional*, defaults to `0`):
            Token id written in the padding (masked out).

    Returns:
        `list[dict]`: Copies of `items` with `original_token` (`o_t`), `alternative_token`, `original_logp` and
        `alternative_logp` (the natural-log probabilities of both tokens under the policy, temperature 1).
    """
    import torch

    _check("batch_size", batch_size, _is_int(batch_size) and batch_size >= 1, "an integer >= 1")
    by_id = _completions_by_id(completions)
    device = model_device(model)
    filled = []
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        prefixes, originals = [], []
        for item in batch:
            completion = by_id[item["completion"]]
            t = item["t"]
            if not 0 <= t < len(completion["completion_ids"]):
                raise ValueError(
                    f"Item {item['id']!r}: `t` must be in [0, {len(completion['completion_ids'])}), got {t!r}."
                )
            prefixes.append(list(completion["prompt_ids"]) + list(completion["completion_ids"][:t]))
            originals.append(int(completion["completion_ids"][t]))
        input_ids, attention_mask = left_padded(prefixes, pad_token_id, device)
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad():
            logits = model(
                input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, logits_to_keep=1
            ).logits[:, -1, :]
        logps = torch.log_softmax(logits.float(), dim=-1)
        original = torch.tensor(originals, device=logps.device)
        others = logps.clone()
        others[torch.arange(len(batch), device=logps.device), original] = float("-inf")
        alternative = others.argmax(dim=-1)
        rows = torch.arange(len(batch), device=logps.device)
        original_logp = logps[rows, original].tolist()
        alternative_logp = logps[rows, alternative].tolist()
        for row, item in enumerate(batch):
            filled.append(
                {
                    **item,
                    "original_token": originals[row],
                    "alternative_token": int(alternative[row]),
                    "original_logp": original_logp[row],
                    "alternative_logp": alternative_logp[row],
                }
            )
    return filled


def impact_generator(
    model, tokenizer, k: int, temperature: float, top_p: float, max_new_tokens: int
) -> Callable[[Sequence[Sequence[Prefix]], int], list[list[dict[str, Any]]]]:
    """
    `generate(groups, seed)` for [`~trl_entropy.sampling.chunks.sample_chunks`]: `k` continuations of every prefix.

    Each group (one item of the chunk loop) is a sequence of prefixes `(prompt_ids, completion_prefix_ids)`, for I_t
    the original and the replaced prefix of one position. All the prefixes of a call are sampled in one
    `model.generate` call (left padding), under the seed, with the global torch RNG forked as in
    [`~trl_entropy.sampling.backends.generate_hf`].

    Args:
        model (`transformers.PreTrainedModel`):
            The policy.
        tokenizer (`transformers.PreTrainedTokenizerBase`):
            Its tokenizer (padding id, EOS, decoding).
        k (`int`):
            Continuations per prefix.
        temperature (`float`), top_p (`float`):
            Sampling settings (no top-k truncation).
        max_new_tokens (`int`):
            The length cap of a full completion (completion prefix + continuation), the cap the completions were
            sampled with: a prefix whose completion part has `n` tokens gets at most `max_new_tokens - n` more.

    Returns:
        `Callable`: `generate(groups, seed)` returning, per group, `k` samples of each of its prefixes in order (`k *
        len(group)` samples): `completion_ids` (completion prefix + continuation, up to and including EOS), `text`
        (decoded, special tokens removed) and `truncated` (no EOS within the cap). A prefix ending with EOS, or
        already at the cap, has an empty continuation.
    """
    check_impact_settings(k, temperature, top_p, max_new_tokens)
    eos_ids = eos_token_ids(model, tokenizer)
    pad_id = pad_token_id(tokenizer)

    def generate(groups: Sequence[Sequence[Prefix]], seed: int) -> list[list[dict[str, Any]]]:
        prefixes = [(list(prompt), list(completion)) for group in groups for prompt, completion in group]
        # Per prefix, per sample: the continuation (empty unless the prefix is generated from).
        continuations: list[list[list[int]]] = [[[] for _ in range(k)] for _ in prefixes]
        open_rows = [
            row
            for row, (_, completion) in enumerate(prefixes)
            if len(completion) < max_new_tokens and not (completion and completion[-1] in eos_ids)
        ]
        if open_rows:
            device = model_device(model)
            input_ids, attention_mask = left_padded([sum(prefixes[row], []) for row in open_rows], pad_id, device)
            longest = max(max_new_tokens - len(prefixes[row][1]) for row in open_rows)
            with seeded_generation(device, seed):
                output = model.generate(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    max_new_tokens=longest,
                    num_return_sequences=k,
                    pad_token_id=pad_id,
                    **sampling_options(temperature, top_p),
                )
            generated = output[:, input_ids.shape[1] :].tolist()
            # `generate` returns the samples of each input contiguously.
            for position, row in enumerate(open_rows):
                for sample in range(k):
                    continuations[row][sample] = generated[position * k + sample]
        samples_per_prefix = []
        for (_, completion), row_continuations in zip(prefixes, continuations, strict=True):
            budget = max(0, max_new_tokens - len(completion))
            samples = []
            for continuation in row_continuations:
                kept = completion + cut_at_eos(continuation[:budget], eos_ids)[0]
                samples.append(
                    {
                        "completion_ids": kept,
                        "text": tokenizer.decode(kept, skip_special_tokens=True),
                        "truncated": not (kept and kept[-1] in eos_ids),
                    }
                )
            samples_per_prefix.append(samples)
        result, row = [], 0
        for group in groups:
            result.append(
                [sample for prefix_samples in samples_per_prefix[row : row + len(group)] for sample in prefix_samples]
            )
            row += len(group)
        return result

    return generate


def _part_pattern(output_path: str) -> str:
    # The part files of `output_path`: `<file name>.part-<rank>`, next to it.
    return part_pattern_of(os.path.basename(output_path))


def performance_impact(
    model,
    tokenizer,
    completions: Sequence[dict[str, Any]],
    grade: Callable[[dict[str, Any], str], bool],
    *,
    budget: int,
    max_new_tokens: int,
    k: int = 32,
    seed: int = 0,
    batch_size: int = 64,
    temperature: float = 1.0,
    top_p: float = 1.0,
    output_path: str | None = None,
    show_progress: bool = True,
) -> list[dict[str, Any]]:
    r"""
    Measure the performance impact I_t of a sampled budget of completion positions.

    The positions are drawn by [`choose_impact_positions`] (`budget`, `seed`), their best alternatives chosen by
    [`best_alternatives`], and `k` continuations of the original and of the replaced prefix of every position sampled
    by [`impact_generator`] through the shared chunk loop: a chunk holds `max(1, batch_size // (2 * k))`
    positions and is sampled with its own seed, so the records depend neither on the number of processes nor on
    interruptions.

    With `output_path`, the records of every finished chunk are appended to `<output_path>.part-<rank>` as it
    completes, and a later call with the same arguments skips the positions already recorded there or in
    `output_path` (resume; the settings are not checked, only that a record has `k` continuations per prefix). At the
    end the main process writes all records to `output_path`, in order, and removes the part files. Under `accelerate
    launch` / `torchrun` the processes share the chunks and every process returns all records.

    Args:
        model (`transformers.PreTrainedModel`):
            The policy (a loaded causal LM).
        tokenizer (`transformers.PreTrainedTokenizerBase`):
            Its tokenizer.
        completions (`Sequence[dict]`):
            The sampled completions: `id` (`str`, unique), `prompt_ids` (`list[int]`), `completion_ids` (`list[int]`,
            EOS included when it was generated), and whatever `grade` needs (e.g. the problem).
        grade (`Callable`):
            `grade(completion, text) -> bool`: whether a full completion's text (special tokens removed) solves the
            problem of `completion` (the original completion's dict).
        budget (`int`):
            Number of positions measured (at most all positions).
        max_new_tokens (`int`):
            The length cap the completions were sampled with: a full completion (completion prefix + continuation) has
            at most that many tokens. No completion may be longer.
        k (`int`, *optional*, defaults to `32`):
            Continuations per prefix (the paper's k).
        seed (`int`, *optional*, defaults to `0`):
            Seed of the positions and of the sampling.
        batch_size (`int`, *optional*, defaults to `64`):
            Sequences per generation call (and prefixes per forward pass of [`best_alternatives`]).
        temperature (`float`, *optional*, defaults to `1.0`), top_p (`float`, *optional*, defaults to `1.0`):
            Sampling settings of the continuations (no top-k truncation); temperature must be positive.
        output_path (`str`, *optional*):
            A JSONL file where the records are written and resumed; nothing is written when `None`.
        show_progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar (main process).

    Returns:
        `list[dict]`: One record per position, in the order of [`choose_impact_positions`]: `id`, `completion`, `t`,
        `original_token`, `alternative_token`, `original_logp`, `alternative_logp`, `correct_original` and
        `correct_replaced` (the grade of each of the `k` continuations), `acc_original`, `acc_replaced` and `impact`
        (`acc_original - acc_replaced`).
    """
    check_impact_settings(k, temperature, top_p, max_new_tokens, batch_size, budget)
    by_id = _completions_by_id(completions)
    too_long = [c["id"] for c in completions if len(c["completion_ids"]) > max_new_tokens]
    if too_long:
        raise ValueError(
            f"`max_new_tokens` ({max_new_tokens}) must be at least the length of every completion; {too_long[0]!r} "
            f"has {len(by_id[too_long[0]]['completion_ids'])} tokens. Pass the cap the completions were sampled with."
        )
    if completions:
        longest_prompt = max(len(c["prompt_ids"]) for c in completions)
        check_generation_fits(longest_prompt, max_new_tokens, getattr(model, "config", None), what="max_new_tokens")

    items = choose_impact_positions(completions, budget, seed)
    rank, world_size = process_info()
    done: dict[str, dict[str, Any]] = {}
    cache = None
    if output_path is not None:
        output_dir = os.path.dirname(os.path.abspath(output_path))
        cache = SampleCache(
            output_dir, os.path.basename(output_path), _part_pattern(output_path), samples_key="correct_original"
        )
        if rank == 0:
            os.makedirs(output_dir, exist_ok=True)
        barrier(world_size)
        done = cache.load(k)
        done = {key: record for key, record in done.items() if len(record.get("correct_replaced", [])) == k}

    new_records: list[dict[str, Any]] = []
    pending = [item for item in items if item["id"] not in done]
    if pending:
        with eval_mode(model):
            # Every item, always in the same batches: the alternatives do not depend on what was already done.
            chosen = best_alternatives(model, items, completions, batch_size, pad_token_id(tokenizer))
            groups = []
            for item in chosen:
                completion = by_id[item["completion"]]
                head = list(completion["completion_ids"][: item["t"]])
                groups.append(
                    (
                        (completion["prompt_ids"], head + [item["original_token"]]),
                        (completion["prompt_ids"], head + [item["alternative_token"]]),
                    )
                )

            def make_record(index: int, samples: list[dict[str, Any]]) -> dict[str, Any]:
                item = chosen[index]
                completion = by_id[item["completion"]]
                correct = [bool(grade(completion, sample["text"])) for sample in samples]
                acc_original, acc_replaced = sum(correct[:k]) / k, sum(correct[k:]) / k
                return {
                    "id": item["id"],
                    "completion": item["completion"],
                    "t": item["t"],
                    "original_token": item["original_token"],
                    "alternative_token": item["alternative_token"],
                    "original_logp": item["original_logp"],
                    "alternative_logp": item["alternative_logp"],
                    "correct_original": correct[:k],
                    "correct_replaced": correct[k:],
                    "acc_original": acc_original,
                    "acc_replaced": acc_replaced,
                    "impact": acc_original - acc_replaced,
                }

            def save(chunk_records):
                if cache is not None:
                    cache.append(rank, chunk_records)

            new_records = sample_chunks(
                impact_generator(model, tokenizer, k, temperature, top_p, max_new_tokens),
                groups,
                [item["id"] for item in chosen],
                2 * k,
                batch_size,
                seed,
                make_record,
                set(done),
                rank,
                world_size,
                save,
                show_progress,
                desc=f"performance impact ({k} continuations/prefix)",
                unit="position",
            )
    new_records = gather_objects(new_records, world_size)

    records = merge_records(done, new_records, [item["id"] for item in items])
    if cache is not None and rank == 0:
        cache.finish(records)
    barrier(world_size)
    return records
