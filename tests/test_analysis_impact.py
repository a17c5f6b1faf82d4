# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Performance impact I_t: positions, best alternatives, scripted policies with known I_t, the tiny policy, resume and
two processes."""

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from trl_entropy.analysis.impact import (
    best_alternatives,
    choose_impact_positions,
    impact_generator,
    performance_impact,
)


ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------------------------------------------------
# A scripted policy: its best alternatives and its continuations' success are known by construction
# ---------------------------------------------------------------------------------------------------------------------

PAD, EOS, A, B, X, S, F = range(7)
VOCAB = ["<pad>", "<eos>", "a", "b", "x", "s", "f"]


class FakeTokenizer:
    pad_token_id = PAD
    eos_token_id = EOS

    def decode(self, ids, skip_special_tokens=False):
        return "".join(VOCAB[i] for i in ids if not (skip_special_tokens and i in (PAD, EOS)))


def fake_logits(last_token: int) -> list[float]:
    # After any prefix `a` is the most likely token, then `b`, then `x`; after `x` the order is `s`, `x`, `a`.
    if last_token == X:
        return [-9.0, 0.0, 1.0, -1.0, 2.0, 3.0, -2.0]
    return [-9.0, -1.0, 3.0, 2.0, 1.0, 0.0, -2.0]


class FakeModel:
    """
    What the impact code calls: a forward (last-position logits from the prefix's last token) and `generate`, whose
    continuation of a prefix ending with `a` is always `s<eos>` (a success), with `b` `s<eos>` for even and `f<eos>` for
    odd samples (exactly half), and otherwise `f<eos>`.
    """

    device = torch.device("cpu")
    training = False
    generation_config = SimpleNamespace(eos_token_id=EOS)

    def __init__(self):
        self.forward_calls = []
        self.generate_calls = []

    def eval(self):
        return self

    def __call__(self, input_ids, attention_mask, position_ids, logits_to_keep):
        self.forward_calls.append(
            {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids}
        )
        assert logits_to_keep == 1
        logits = torch.tensor([fake_logits(int(token)) for token in input_ids[:, -1]])
        return SimpleNamespace(logits=logits[:, None, :])

    def generate(self, input_ids, attention_mask, max_new_tokens, num_return_sequences, pad_token_id, **sampling):
        assert sampling["do_sample"] and sampling["temperature"] > 0
        self.generate_calls.append(input_ids.shape[0])
        rows = []
        for sequence in input_ids.tolist():
            for sample in range(num_return_sequences):
                last = sequence[-1]
                success = last == A or (last == B and sample % 2 == 0)
                continuation = ([S] if success else [F]) + [EOS]
                continuation = (continuation + [pad_token_id] * max_new_tokens)[:max_new_tokens]
                rows.append(sequence + continuation)
        return torch.tensor(rows)


def ends_with_success(completion, text):
    return text.endswith("s")


def fake_completions():
    return [
        {"id": "p", "prompt_ids": [X, X], "completion_ids": [X, A, S, EOS]},
        {"id": "q", "prompt_ids": [X], "completion_ids": [A, X, B]},  # no EOS (a truncated completion)
    ]


def expected_fake_record(completion, t, k):
    """I_t of the scripted policy, worked out by hand from its rules."""
    prefix_last = (completion["prompt_ids"] + completion["completion_ids"])[len(completion["prompt_ids"]) + t - 1]
    original = completion["completion_ids"][t]
    ranked = sorted(range(len(VOCAB)), key=lambda token: -fake_logits(prefix_last)[token])
    alternative = next(token for token in ranked if token != original)

    def accuracy(token):
        if token == EOS:  # no continuation: the completion so far is graded
            return float(ends_with_success(None, FakeTokenizer().decode(completion["completion_ids"][:t], True)))
        return {A: 1.0, B: 0.5}.get(token, 0.0)

    return {
        "original_token": original,
        "alternative_token": alternative,
        "impact": accuracy(original) - accuracy(alternative),
    }


# ---------------------------------------------------------------------------------------------------------------------
# choose_impact_positions
# ---------------------------------------------------------------------------------------------------------------------


def test_positions_are_a_seeded_draw_without_replacement():
    completions = [{"id": f"c{i}", "prompt_ids": [1], "completion_ids": list(range(i + 3))} for i in range(5)]
    total = sum(len(c["completion_ids"]) for c in completions)  # 25
    items = choose_impact_positions(completions, 10, seed=3)
    assert items == choose_impact_positions(completions, 10, seed=3)
    assert items != choose_impact_positions(completions, 10, seed=4)
    assert len(items) == 10 and len({item["id"] for item in items}) == 10
    lengths = {c["id"]: len(c["completion_ids"]) for c in completions}
    order = [c["id"] for c in completions]
    for item in items:
        assert item["id"] == f"{item['completion']}:{item['t']}" and 0 <= item["t"] < lengths[item["completion"]]
    assert items == sorted(items, key=lambda item: (order.index(item["completion"]), item["t"]))
    everything = choose_impact_positions(completions, 1000, seed=0)
    assert len(everything) == total and len({item["id"] for item in everything}) == total
    assert choose_impact_positions(completions, 0, seed=0) == []
    assert choose_impact_positions([], 5, seed=0) == []


@pytest.mark.parametrize("budget", [-1, 2.5, True, "3"])
def test_positions_refuse_a_bad_budget(budget):
    with pytest.raises(ValueError, match=r"`budget` must be an integer >= 0, got " + repr(budget).replace(".", r"\.")):
        choose_impact_positions(fake_completions(), budget, seed=0)


def test_positions_refuse_duplicate_completion_ids():
    completions = fake_completions()
    completions[1]["id"] = "p"
    with pytest.raises(ValueError, match="unique"):
        choose_impact_positions(completions, 1, seed=0)


# ---------------------------------------------------------------------------------------------------------------------
# best_alternatives and the generator
# ---------------------------------------------------------------------------------------------------------------------


def test_best_alternative_is_the_argmax_without_the_original_token():
    completions = fake_completions()
    items = choose_impact_positions(completions, 100, seed=0)
    model = FakeModel()
    chosen = best_alternatives(model, items, completions, batch_size=3)
    assert [item["id"] for item in chosen] == [item["id"] for item in items]
    assert "original_token" not in items[0]  # the items are copied, not filled in place
    by_id = {c["id"]: c for c in completions}
    for item in chosen:
        completion = by_id[item["completion"]]
        full = completion["prompt_ids"] + completion["completion_ids"][: item["t"]]
        logps = torch.log_softmax(torch.tensor(fake_logits(full[-1])), dim=-1)
        masked = logps.clone()
        masked[item["original_token"]] = -math.inf
        assert item["original_token"] == completion["completion_ids"][item["t"]]
        assert item["alternative_token"] == int(masked.argmax()) != item["original_token"]
        assert item["original_logp"] == pytest.approx(float(logps[item["original_token"]]))
        assert item["alternative_logp"] == pytest.approx(float(logps[item["alternative_token"]]))
    # `a` after `x` is the sampled token of p:1; its alternative is `s` (second after `x`), at t=0 `x` gives way to `s`.
    assert {item["id"]: item["alternative_token"] for item in chosen}["p:1"] == S
    # 7 prefixes in batches of 3, left padded, positions counted from the first real token.
    assert [call["input_ids"].shape[0] for call in model.forward_calls] == [3, 3, 1]
    for call in model.forward_calls:
        mask = call["attention_mask"]
        assert (call["position_ids"][mask.bool()] == (mask.cumsum(-1) - 1)[mask.bool()]).all()
        assert (mask[:, -1] == 1).all()


def test_generator_keeps_the_completion_prefix_and_respects_the_cap():
    generate = impact_generator(FakeModel(), FakeTokenizer(), k=2, temperature=1.0, top_p=1.0, max_new_tokens=4)
    groups = [
        [([X], [X, A]), ([X], [X, B])],
        [([X, X], [A, EOS])],  # ends with EOS: nothing is generated
        [([X], [X, X, B])],  # one token left under the cap: `s` without its EOS
    ]
    samples = generate(groups, seed=0)
    assert [len(group) for group in samples] == [4, 2, 2]
    assert [s["completion_ids"] for s in samples[0]] == [[X, A, S, EOS]] * 2 + [[X, B, S, EOS], [X, B, F, EOS]]
    assert [s["text"] for s in samples[0]] == ["xas", "xas", "xbs", "xbf"]
    assert [s["completion_ids"] for s in samples[1]] == [[A, EOS]] * 2 and not samples[1][0]["truncated"]
    assert samples[2][0]["completion_ids"] == [X, X, B, S] and samples[2][0]["truncated"]
    assert samples[2][1]["completion_ids"] == [X, X, B, F]


# ---------------------------------------------------------------------------------------------------------------------
# performance_impact on the scripted policy: I_t known exactly
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [8, 64])
def test_impact_of_the_scripted_policy(batch_size):
    completions = fake_completions()
    k = 4
    model = FakeModel()
    records = performance_impact(
        model, FakeTokenizer(), completions, ends_with_success, budget=100, k=k, max_new_tokens=5,
        batch_size=batch_size, show_progress=False,
    )  # fmt: skip
    assert [r["id"] for r in records] == ["p:0", "p:1", "p:2", "p:3", "q:0", "q:1", "q:2"]
    by_id = {c["id"]: c for c in completions}
    for record in records:
        expected = expected_fake_record(by_id[record["completion"]], record["t"], k)
        assert {key: record[key] for key in expected} == expected, record["id"]
        assert record["impact"] == record["acc_original"] - record["acc_replaced"]
        assert len(record["correct_original"]) == len(record["correct_replaced"]) == k
        assert record["acc_original"] == sum(record["correct_original"]) / k
    # p:1 keeps `a` (always succeeds) or takes `s`, after which the continuation fails: I_t = 1.
    assert records[1]["impact"] == 1.0
    # q:2 keeps `b` (half succeed) or takes `s`, the best after `x`: I_t = 0.5.
    record = records[6]
    assert (record["original_token"], record["alternative_token"]) == (B, S)
    assert (record["acc_original"], record["acc_replaced"], record["impact"]) == (0.5, 0.0, 0.5)
    # A chunk holds batch_size // (2k) positions; each generation call gets the prefixes not ending with EOS.
    per_chunk = max(1, batch_size // (2 * k))
    assert len(model.generate_calls) == math.ceil(7 / per_chunk)
    assert sum(model.generate_calls) == 14 - 1  # p:3 keeps EOS: its original prefix is not continued


def test_impact_of_a_then_b_is_one_half():
    completions = [{"id": "r", "prompt_ids": [X, A], "completion_ids": [A, EOS]}]
    items = choose_impact_positions(completions, 2, seed=0)
    assert [item["t"] for item in items] == [0, 1]
    records = performance_impact(
        FakeModel(), FakeTokenizer(), completions, ends_with_success, budget=2, k=32, max_new_tokens=8,
        show_progress=False,
    )  # fmt: skip
    first = records[0]
    assert (first["original_token"], first["alternative_token"]) == (A, B)
    assert (first["acc_original"], first["acc_replaced"], first["impact"]) == (1.0, 0.5, 0.5)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"k": 0}, r"`k` must be an integer >= 1, got 0"),
        ({"temperature": 0}, r"`temperature` must be > 0 .*greedy decoding is not supported.*got 0"),
        ({"top_p": 0.0}, r"`top_p` must be in \(0, 1\], got 0\.0"),
        ({"top_p": 1.5}, r"`top_p` must be in \(0, 1\], got 1\.5"),
        ({"batch_size": 0}, r"`batch_size` must be an integer >= 1, got 0"),
        ({"budget": -2}, r"`budget` must be an integer >= 0, got -2"),
        ({"max_new_tokens": 3}, r"`max_new_tokens` \(3\) must be at least the length of every completion; 'p' has 4"),
    ],
)
def test_impact_refuses_bad_settings(settings, message):
    kwargs = {"budget": 2, "max_new_tokens": 8, "show_progress": False, **settings}
    with pytest.raises(ValueError, match=message):
        performance_impact(FakeModel(), FakeTokenizer(), fake_completions(), ends_with_success, **kwargs)


# ---------------------------------------------------------------------------------------------------------------------
# The tiny countdown-steps policy
# ---------------------------------------------------------------------------------------------------------------------

TRACES = ("7-2=5,5*6=30,30+8=38", "3+3=6,5+3=8,8+9=17")  # a correct trace of problem 0, a wrong one of problem 1


@pytest.fixture(scope="module")
def tiny_steps():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trl_entropy.tasks.countdown_steps import build_dataset
    from trl_entropy.tasks.names import TINY_STEPS_POLICY_PATH

    tokenizer = AutoTokenizer.from_pretrained(TINY_STEPS_POLICY_PATH)
    model = AutoModelForCausalLM.from_pretrained(TINY_STEPS_POLICY_PATH)
    model.eval()
    completions = []
    for index, (row, trace) in enumerate(zip(build_dataset("test", n=2, seed=0), TRACES, strict=True)):
        completions.append(
            {
                "id": f"problem-{index}",
                "prompt_ids": tokenizer(row["prompt"], add_special_tokens=False)["input_ids"],
                "completion_ids": tokenizer(trace, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id],
                "numbers": row["numbers"],
                "target": row["target"],
            }
        )
    return model, tokenizer, completions


def countdown_steps_grade(completion, text):
    from trl_entropy.tasks.countdown_steps import score_completion

    return score_completion(text, completion["numbers"], completion["target"]) == 1.0


TINY_SETTINGS = {"budget": 3, "k": 4, "seed": 0, "batch_size": 8, "max_new_tokens": 26, "show_progress": False}


def test_tiny_policy_impact_is_seeded_and_resumes(tiny_steps, tmp_path, monkeypatch):
    model, tokenizer, completions = tiny_steps
    assert countdown_steps_grade(completions[0], TRACES[0]) and not countdown_steps_grade(completions[1], TRACES[1])
    records = performance_impact(model, tokenizer, completions, countdown_steps_grade, **TINY_SETTINGS)
    assert len(records) == 3
    by_id = {c["id"]: c for c in completions}
    for record in records:
        assert record["original_token"] == by_id[record["completion"]]["completion_ids"][record["t"]]
        assert record["alternative_token"] != record["original_token"]
        assert record["original_logp"] <= 0 and record["alternative_logp"] <= 0
        assert record["acc_original"] in (0, 0.25, 0.5, 0.75, 1) and record["acc_replaced"] in (0, 0.25, 0.5, 0.75, 1)
        assert record["impact"] == record["acc_original"] - record["acc_replaced"]
    assert performance_impact(model, tokenizer, completions, countdown_steps_grade, **TINY_SETTINGS) == records

    # Resumable: the records are saved, and a run over a file cut to its first record redoes only the other two.
    rows = []
    original_generate = model.generate

    def counting(*args, **kwargs):
        rows.append(kwargs["input_ids"].shape[0])
        return original_generate(*args, **kwargs)

    monkeypatch.setattr(model, "generate", counting)
    path = tmp_path / "impact" / "records.jsonl"
    saved = performance_impact(
        model, tokenizer, completions, countdown_steps_grade, output_path=str(path), **TINY_SETTINGS
    )
    assert saved == records and len(rows) == 3  # one position per chunk (batch 8 = 2 prefixes x 4)
    lines = path.read_text().splitlines()
    assert [json.loads(line) for line in lines] == records
    assert sorted(os.listdir(path.parent)) == ["records.jsonl"]  # the part file is merged and removed
    path.write_text(lines[0] + "\n")
    rows.clear()
    resumed = performance_impact(
        model, tokenizer, completions, countdown_steps_grade, output_path=str(path), **TINY_SETTINGS
    )
    assert resumed == records
    eos = tokenizer.eos_token_id
    open_prefixes = [(r["original_token"] != eos) + (r["alternative_token"] != eos) for r in records[1:]]
    assert rows == open_prefixes  # only the two missing positions, in one call each
    assert [json.loads(line) for line in path.read_text().splitlines()] == records
    rows.clear()
    assert (
        performance_impact(
            model, tokenizer, completions, countdown_steps_grade, output_path=str(path), **TINY_SETTINGS
        )
        == records
    )
    assert rows == []  # everything was there

    # An interrupted run leaves its part file, maybe with a line cut short: its complete records are kept.
    path.unlink()
    (path.parent / "records.jsonl.part-0").write_text(lines[0] + "\n" + lines[1] + "\n" + lines[2][:20])
    resumed = performance_impact(
        model, tokenizer, completions, countdown_steps_grade, output_path=str(path), **TINY_SETTINGS
    )
    assert resumed == records and rows == open_prefixes[1:]
    assert sorted(os.listdir(path.parent)) == ["records.jsonl"]


TWO_PROCESS_SCRIPT = """
import json, os, sys
import torch

def main(directory):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl_entropy.analysis.impact import performance_impact
    from trl_entropy.tasks.countdown_steps import score_completion
    from trl_entropy.tasks.names import TINY_STEPS_POLICY_PATH

    torch.set_num_threads(1)
    with open(os.path.join(directory, "input.json")) as f:
        given = json.load(f)
    tokenizer = AutoTokenizer.from_pretrained(TINY_STEPS_POLICY_PATH)
    model = AutoModelForCausalLM.from_pretrained(TINY_STEPS_POLICY_PATH)

    def grade(completion, text):
        return score_completion(text, completion["numbers"], completion["target"]) == 1.0

    output_path = os.path.join(directory, "out", "records.jsonl")
    records = performance_impact(model, tokenizer, given["completions"], grade, output_path=output_path,
                                 **given["settings"])
    rank, world_size = torch.distributed.get_rank(), torch.distributed.get_world_size()
    with open(os.path.join(directory, f"rank-{rank}.json"), "w") as f:
        json.dump({"world_size": world_size, "records": records}, f)
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()

if __name__ == "__main__":
    main(sys.argv[1])
"""


def test_two_processes_give_the_one_process_records(tiny_steps, tmp_path):
    model, tokenizer, completions = tiny_steps
    expected = performance_impact(model, tokenizer, completions, countdown_steps_grade, **TINY_SETTINGS)
    (tmp_path / "input.json").write_text(json.dumps({"completions": completions, "settings": TINY_SETTINGS}))
    script = tmp_path / "two_process_impact.py"
    script.write_text(textwrap.dedent(TWO_PROCESS_SCRIPT))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(script), str(tmp_path)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    for rank in (0, 1):
        got = json.loads((tmp_path / f"rank-{rank}.json").read_text())
        assert got["world_size"] == 2 and got["records"] == expected
    written = (tmp_path / "out" / "records.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in written] == expected
    assert sorted(os.listdir(tmp_path / "out")) == ["records.jsonl"]
