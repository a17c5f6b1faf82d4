# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The shared sampling layer on its own: seeded chunks, the process share, the resumable JSONL cache, the HF backend."""

import json
import random

import pytest
import torch

from trl_entropy.sampling import (
    SampleCache,
    append_jsonl,
    chunk_ranges,
    chunk_seed,
    cut_at_eos,
    eval_mode,
    gather_objects,
    generate_hf,
    hf_sampler,
    items_per_chunk,
    merge_records,
    part_pattern_of,
    process_info,
    read_jsonl,
    sample_chunks,
    seeded_generation,
    shard_chunks,
)


NUM_SAMPLES = 2


def fake_generate(calls=None):
    """`generate(prompts, seed)` whose samples depend only on the prompt and the chunk's seed (as a seeded backend's)."""

    def generate(prompts, seed):
        if calls is not None:
            calls.append(list(prompts))
        rng = random.Random(seed)
        return [[{"text": f"{prompt}:{rng.random():.6f}"} for _ in range(NUM_SAMPLES)] for prompt in prompts]

    return generate


def make_record(index, samples):
    return {"id": f"p{index}", "texts": [sample["text"] for sample in samples]}


PROMPTS = [f"prompt{i}" for i in range(11)]
IDS = [f"p{i}" for i in range(11)]


def run(generate, done_ids=frozenset(), rank=0, world_size=1, on_chunk=None, batch_size=6, seed=3):
    # 11 prompts of 2 samples, 3 prompts per chunk: 4 chunks, the last one of 2 prompts.
    return sample_chunks(
        generate, PROMPTS, IDS, NUM_SAMPLES, batch_size, seed, make_record, set(done_ids), rank, world_size, on_chunk,
        show_progress=False,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------------
# Seeded chunks
# ---------------------------------------------------------------------------------------------------------------------


def test_chunk_seed_depends_on_the_seed_and_the_index_only():
    assert chunk_seed(5, 2) == chunk_seed(5, 2) == (5 * 1_000_003 + 2)
    seeds = {chunk_seed(seed, index) for seed in range(4) for index in range(100)}
    assert len(seeds) == 400
    assert 0 <= chunk_seed(2**70, 1) < 2**63 - 1


def test_chunk_ranges_split_the_items_in_order():
    assert items_per_chunk(64, 8) == 8 and items_per_chunk(6, 8) == 1
    chunks = chunk_ranges(11, 3)
    assert [list(chunk) for chunk in chunks] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10]]
    assert chunk_ranges(0, 3) == []


def test_seeded_chunks_are_reproducible_and_independent_of_what_was_done():
    first, second = run(fake_generate()), run(fake_generate())
    assert first == second and [record["id"] for record in first] == IDS
    # Another seed, other samples.
    assert run(fake_generate(), seed=4) != first
    # With the first chunk done, the other chunks get the same samples as in a full run: each chunk's own seed.
    calls, seeds = [], []
    generate = fake_generate(calls)
    rest = run(lambda prompts, seed: seeds.append(seed) or generate(prompts, seed), done_ids={"p0", "p1", "p2"})
    assert rest == first[3:] and calls == [PROMPTS[3:6], PROMPTS[6:9], PROMPTS[9:]]
    assert seeds == [chunk_seed(3, 1), chunk_seed(3, 2), chunk_seed(3, 3)]
    # A chunk with one item left is sampled again whole (a chunk's samples come from one call).
    calls.clear()
    assert run(fake_generate(calls), done_ids=set(IDS) - {"p4"}) == first[3:6]
    assert calls == [PROMPTS[3:6]]


# ---------------------------------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("world_size", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("done", [set(), {"p0", "p1", "p2"}, {"p3", "p7"}, set(IDS)])
def test_shards_cover_every_pending_item_once(world_size, done):
    chunks = chunk_ranges(len(IDS), 3)
    shards = [shard_chunks(chunks, IDS, done, rank, world_size) for rank in range(world_size)]
    taken = [i for mine, _, _ in shards for _, chunk in mine for i in chunk]
    pending_items = [i for chunk in chunks if any(IDS[i] not in done for i in chunk) for i in chunk]
    assert sorted(taken) == pending_items and len(taken) == len(set(taken))
    # Every process makes the same number of generation calls (collectives under FSDP / ZeRO-3), and no fewer than
    # its own chunks.
    calls = {num_calls for _, num_calls, _ in shards}
    assert len(calls) == 1 and all(num_calls >= len(mine) for mine, num_calls, _ in shards)
    assert calls == {-(-len(shards[0][2]) // world_size)}


def test_processes_together_give_the_single_process_records():
    single = run(fake_generate())
    for world_size in (2, 3):
        parts, counts = [], []
        for rank in range(world_size):
            calls = []
            parts.append(run(fake_generate(calls), rank=rank, world_size=world_size))
            counts.append(len(calls))
        merged = merge_records({}, [record for part in parts for record in part], IDS)
        assert merged == single
        # Every process makes as many calls: with 3 processes over 4 chunks, the second and third have one chunk each
        # and repeat it once.
        assert counts == [2] * world_size


def test_single_process_info_and_gather():
    assert process_info() == (0, 1)
    items = [{"id": 1}]
    assert gather_objects(items, 1) is items


# ---------------------------------------------------------------------------------------------------------------------
# The resumable JSONL cache
# ---------------------------------------------------------------------------------------------------------------------


class Interrupted(Exception):
    pass


def test_cache_resumes_where_an_interrupted_run_stopped(tmp_path):
    uninterrupted = run(fake_generate())
    cache = SampleCache(str(tmp_path), "samples.jsonl", "samples.part-{rank}.jsonl", samples_key="texts")

    # The run dies in its third chunk, after two chunks were appended.
    calls = []
    generate = fake_generate(calls)

    def dying(prompts, seed):
        if len(calls) == 2:
            raise Interrupted
        return generate(prompts, seed)

    with pytest.raises(Interrupted):
        run(dying, on_chunk=lambda records: cache.append(0, records))
    part = tmp_path / "samples.part-0.jsonl"
    lines = part.read_text().splitlines()
    assert len(lines) == 6 and not (tmp_path / "samples.jsonl").exists()
    # The last record was cut mid-line (a kill during the write): only it is lost.
    part.write_text("\n".join(lines[:5]) + "\n" + lines[5][:10])
    done = cache.load(NUM_SAMPLES)
    assert sorted(done) == IDS[:5]

    calls.clear()
    new = run(fake_generate(calls), done_ids=set(done), on_chunk=lambda records: cache.append(0, records))
    # Chunk 1 is complete in the cache; chunk 2 lost its last record and is sampled again, whole.
    assert calls == [PROMPTS[3:6], PROMPTS[6:9], PROMPTS[9:]]
    records = merge_records(done, new, IDS)
    assert records == uninterrupted
    # The cut line was closed before the resumed run appended: the part file reads back whole.
    assert len(read_jsonl(str(part))) == 5 + 8
    cache.finish(records)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples.jsonl"]
    assert read_jsonl(cache.path) == uninterrupted

    # A finished cache is read back whole: nothing is sampled again.
    calls.clear()
    done = cache.load(NUM_SAMPLES)
    assert run(fake_generate(calls), done_ids=set(done)) == [] and calls == []
    assert merge_records(done, [], IDS) == uninterrupted


def test_cache_keeps_complete_records_only(tmp_path):
    cache = SampleCache(
        str(tmp_path), "scores.jsonl", "scores.part-{rank}.jsonl", id_key="index", samples_key="answers"
    )
    cache.append(0, [{"index": 0, "answers": [1, 2]}, {"index": 1, "answers": [1]}])
    cache.append(1, [{"index": 2, "answers": [3, 4]}])
    assert cache.part_path(1) == str(tmp_path / "scores.part-1.jsonl")
    assert sorted(cache.load(2)) == [0, 2]


def test_append_closes_a_cut_line(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text('{"id": 1}\n{"id": ')
    append_jsonl(str(path), [{"id": 2}])
    assert path.read_text() == '{"id": 1}\n{"id": \n{"id": 2}\n'
    assert read_jsonl(str(path)) == [{"id": 1}, {"id": 2}]


def test_part_pattern_of_escapes_braces():
    pattern = part_pattern_of("impact{a}.jsonl")
    assert pattern.format(rank=3) == "impact{a}.jsonl.part-3"
    assert json.dumps(pattern.format(rank="*")) == '"impact{a}.jsonl.part-*"'


# ---------------------------------------------------------------------------------------------------------------------
# The HF backend
# ---------------------------------------------------------------------------------------------------------------------


def test_cut_at_eos():
    assert cut_at_eos([5, 6, 2, 0, 0], {2}) == ([5, 6, 2], False)
    assert cut_at_eos([5, 6, 7], {2}) == ([5, 6, 7], True)
    assert cut_at_eos([3, 5], {2, 3}) == ([3], False)


def test_generate_hf_is_seeded_and_leaves_the_callers_stream(tiny_model, tokenizer):
    prompts = ["3 5 7=15:", "1 2 3=6:"]
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    generate = hf_sampler(tiny_model, tokenizer, 4, 1.0, 1.0, 6, False)
    first = generate(prompts, chunk_seed(0, 0))
    # The caller's random stream is where it was.
    assert torch.equal(torch.rand(3), expected_next)
    assert generate(prompts, chunk_seed(0, 0)) == first
    assert generate(prompts, chunk_seed(0, 1)) != first
    assert [len(samples) for samples in first] == [4, 4]
    for samples in first:
        for sample in samples:
            assert sample["num_tokens"] <= 6 and sample["truncated"] == (sample["num_tokens"] == 6)
    # The sampler is `generate_hf` with the settings bound.
    assert generate_hf(tiny_model, tokenizer, prompts, 4, 1.0, 1.0, 6, False, chunk_seed(0, 0)) == first


def test_seeded_generation_without_a_seed_continues_the_callers_seed():
    device = torch.device("cpu")
    with seeded_generation(device, 7):
        seeded = torch.rand(2)
    torch.manual_seed(7)
    with seeded_generation(device, None):
        continued = torch.rand(2)
    assert torch.equal(seeded, continued)


def test_eval_mode_restores_training(tiny_model):
    tiny_model.train()
    with eval_mode(tiny_model):
        assert not tiny_model.training
    assert tiny_model.training
    tiny_model.eval()
    with eval_mode(tiny_model):
        pass
    assert not tiny_model.training
    with pytest.raises(Interrupted), eval_mode(tiny_model.train()):
        raise Interrupted
    assert tiny_model.training


def test_the_entropy_variant_draws_the_samples_of_the_plain_one(tiny_model, tokenizer):
    from trl_entropy.sampling import generate_hf_texts, generate_hf_with_entropy

    prompts = ["3 5 7=15:", "1 2 3=6:"]
    with seeded_generation(tiny_model.device, 11):
        texts = generate_hf_texts(tiny_model, tokenizer, prompts, 3, 1.0, 6)
    with seeded_generation(tiny_model.device, 11):
        same, entropy_sum, num_tokens = generate_hf_with_entropy(tiny_model, tokenizer, prompts, 3, 1.0, 6)
    assert same == texts and len(texts) == 6
    assert 0 < num_tokens <= 6 * 6 and entropy_sum > 0
    # Greedy decoding (temperature `None`) gives one completion per prompt whatever the seed.
    with seeded_generation(tiny_model.device, 1):
        greedy = generate_hf_texts(tiny_model, tokenizer, prompts, 1, None, 6)
    with seeded_generation(tiny_model.device, 2):
        assert generate_hf_texts(tiny_model, tokenizer, prompts, 1, None, 6) == greedy
