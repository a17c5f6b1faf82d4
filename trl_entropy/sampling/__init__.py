# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""
The sampling layer shared by the evaluator, the SENT scorer, the performance-impact measurement and the tiny policy's
pass@k curve: generation backends (HF `generate`, vLLM), seeded chunks of prompts, the resumable JSONL cache of
records and the share of the chunks among processes.

Importing this package is light: torch, transformers and vLLM are imported where they are used.
"""

from .backends import (
    BACKENDS,
    cut_at_eos,
    eos_token_ids,
    eval_mode,
    generate_hf,
    generate_hf_texts,
    generate_hf_with_entropy,
    generate_vllm,
    hf_sampler,
    left_padded,
    model_device,
    pad_token_id,
    sampling_options,
    seeded_generation,
    tokenize_prompts,
    vllm_sampler,
)
from .cache import (
    SampleCache,
    append_jsonl,
    finish_parts,
    load_done_records,
    merge_records,
    part_pattern_of,
    read_jsonl,
    write_atomic,
)
from .chunks import chunk_ranges, chunk_seed, items_per_chunk, sample_chunks, shard_chunks
from .processes import barrier, gather_objects, process_info


__all__ = [
    "BACKENDS",
    "SampleCache",
    "append_jsonl",
    "barrier",
    "chunk_ranges",
    "chunk_seed",
    "cut_at_eos",
    "eos_token_ids",
    "eval_mode",
    "finish_parts",
    "gather_objects",
    "generate_hf",
    "generate_hf_texts",
    "generate_hf_with_entropy",
    "generate_vllm",
    "hf_sampler",
    "items_per_chunk",
    "left_padded",
    "load_done_records",
    "merge_records",
    "model_device",
    "pad_token_id",
    "part_pattern_of",
    "process_info",
    "read_jsonl",
    "sample_chunks",
    "sampling_options",
    "seeded_generation",
    "shard_chunks",
    "tokenize_prompts",
    "vllm_sampler",
    "write_atomic",
]
