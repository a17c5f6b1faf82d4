# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""
Seeded chunks of prompts and their share among processes.

The items are split into fixed chunks of `max(1, batch_size // num_samples)` items, and every chunk is sampled with
its own seed ([`chunk_seed`]), derived from the run's seed and the chunk's index: the samples of a chunk depend
neither on which chunks were already done (resume) nor on how many processes share them. Process `rank` of
`world_size` takes every `world_size`-th pending chunk, starting at `rank` ([`shard_chunks`]).
"""

import sys
from collections.abc import Callable, Sequence
from typing import Any


def chunk_seed(seed: int, chunk_index: int) -> int:
    """Seed of one chunk: independent of how many chunks ran before it, in this process or another."""
    return (seed * 1_000_003 + chunk_index) % (2**63 - 1)


def items_per_chunk(batch_size: int, num_samples: int) -> int:
    """Items of one chunk: as many as fit `batch_size` sequences of `num_samples` samples each, at least one."""
    return max(1, batch_size // num_samples)


def chunk_ranges(num_items: int, per_chunk: int) -> list[range]:
    """
    The fixed chunks of `num_items` items.

    Args:
        num_items (`int`):
            Number of items.
        per_chunk (`int`):
            Items per chunk (the last chunk may hold fewer).

    Returns:
        `list[range]`: The item indices of each chunk, in order.
    """
    return [range(start, min(start + per_chunk, num_items)) for start in range(0, num_items, per_chunk)]


def shard_chunks(
    chunks: Sequence[range], ids: Sequence[Any], done_ids: set, rank: int, world_size: int
) -> tuple[list[tuple[int, range]], int, list[tuple[int, range]]]:
    """
    The chunks process `rank` samples: every `world_size`-th chunk that still has an item outside `done_ids`,
    starting at `rank`.

    Args:
        chunks (`Sequence[range]`):
            The chunks ([`chunk_ranges`]).
        ids (`Sequence`):
            The id of each item, as `done_ids` names them.
        done_ids (`set`):
            Items already done (resume).
        rank (`int`), world_size (`int`):
            This process and the number of processes.

    Returns:
        `tuple`: `(mine, num_calls, pending)`: this process's `(chunk index, chunk)` pairs, the number of generation
        calls it must make (the same on every process: under FSDP or ZeRO-3 every forward is a collective, so a
        process with fewer chunks repeats one and discards the result), and every pending `(chunk index, chunk)`.
    """
    pending = [(index, chunk) for index, chunk in enumerate(chunks) if any(ids[i] not in done_ids for i in chunk)]
    mine = pending[rank::world_size]
    num_calls = len(pending[::world_size]) if world_size > 1 else len(mine)
    return mine, num_calls, pending


def sample_chunks(
    generate: Callable[[list[Any], int], list[list[dict[str, Any]]]],
    prompts: Sequence[Any],
    ids: Sequence[Any],
    num_samples: int,
    batch_size: int,
    seed: int,
    make_record: Callable[[int, list[dict[str, Any]]], dict[str, Any]],
    done_ids: set = frozenset(),
    rank: int = 0,
    world_size: int = 1,
    on_chunk: Callable[[list[dict[str, Any]]], None] | None = None,
    show_progress: bool = True,
    desc: str | None = None,
    unit: str = "prompt",
) -> list[dict[str, Any]]:
    """
    Sample this process's share of a list of prompts, chunk by chunk: every `world_size`-th chunk, starting at `rank`,
    skipping chunks whose items are all in `done_ids`. The loop shared by the evaluator, the SENT scorer, the
    performance-impact measurement and the analysis report.

    Args:
        generate (`Callable`):
            `generate(prompts, seed)` returning the samples of each prompt (see
            [`~trl_entropy.sampling.backends.generate_hf`]).
        prompts (`Sequence`):
            The prompt of each item (any value `generate` takes).
        ids (`Sequence`):
            The id of each item, as `done_ids` names them.
        num_samples (`int`):
            Samples per item.
        batch_size (`int`):
            Sequences per generation call; a chunk holds `max(1, batch_size // num_samples)` items.
        seed (`int`):
            Sampling seed (see [`chunk_seed`]).
        make_record (`Callable`):
            `make_record(item_index, samples)` turning the samples of one item into its record.
        done_ids (`set`, *optional*):
            Items already done (resume).
        rank (`int`, *optional*, defaults to `0`), world_size (`int`, *optional*, defaults to `1`):
            This process and the number of processes.
        on_chunk (`Callable`, *optional*):
            Called with the records of every finished chunk (to save them).
        show_progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar (main process only).
        desc (`str`, *optional*), unit (`str`, *optional*, defaults to `"prompt"`):
            Label and unit of the progress bar.

    Returns:
        `list[dict]`: The new records of this process.
    """
    from tqdm.auto import tqdm

    chunks = chunk_ranges(len(prompts), items_per_chunk(batch_size, num_samples))
    mine, num_calls, pending = shard_chunks(chunks, ids, done_ids, rank, world_size)
    records = []
    with tqdm(
        total=sum(len(chunk) for _, chunk in mine),
        desc=desc,
        unit=unit,
        disable=not show_progress or rank != 0,
        file=sys.stderr,
    ) as progress:
        for index, chunk in mine:
            samples = generate([prompts[i] for i in chunk], chunk_seed(seed, index))
            chunk_records = [make_record(i, s) for i, s in zip(chunk, samples, strict=True)]
            records.extend(chunk_records)
            if on_chunk is not None:
                on_chunk(chunk_records)
            progress.update(len(chunk))
        for _ in range(num_calls - len(mine)):
            index, chunk = mine[-1] if mine else pending[0]
            generate([prompts[i] for i in chunk], chunk_seed(seed, index))
    return records
