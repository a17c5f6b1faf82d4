# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""SENT scoring: real tiny-policy scores, cache, cache key, resume, chat templates, math and custom tasks, vLLM wiring,
several processes, the score summary and the `trl-entropy curriculum` command."""

import json
import math
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from conftest import fixed_completions
from datasets import Dataset, load_from_disk

from trl_entropy.eval import evaluator
from trl_entropy.functional.semantic_entropy import semantic_entropy
from trl_entropy.sampling import backends
from trl_entropy.sent import scorer
from trl_entropy.sent.scoring import (
    dataset_fingerprint,
    default_cache_dir,
    format_score_distribution,
    model_fingerprint,
    score_distribution,
    score_semantic_entropy,
)
from trl_entropy.tasks import TINY_POLICY_PATH, build_dataset, load_tiny_policy, parse_expression


ROOT = Path(__file__).resolve().parent.parent
TINY = "trl-entropy/tiny-countdown"


@pytest.fixture(scope="module")
def countdown16():
    return build_dataset(split="train", n=16, seed=0)


def score(dataset, tmp_path, model=TINY, **kwargs):
    kwargs = {
        "num_samples": 4,
        "batch_size": 16,
        "cache_dir": str(tmp_path / "cache"),
        "show_progress": False,
        **kwargs,
    }
    return score_semantic_entropy(dataset, model, **kwargs)


def test_generation_limit_is_checked_before_scoring(tmp_path, countdown16, generated):
    from trl_entropy.eval.limits import GenerationLimitError

    # The tiny policy has 64 positions; the longest of these prompts is 12 tokens.
    for model in (TINY, load_tiny_policy()):
        kwargs = {"model": model} if isinstance(model, str) else {"model": model[0], "tokenizer": model[1]}
        with pytest.raises(
            GenerationLimitError, match=r"plus --max-new-tokens 2048 needs \d+ positions, but the model has 64"
        ):
            score(countdown16, tmp_path, max_new_tokens=2048, **kwargs)
    assert generated == [] and not (tmp_path / "cache").exists()


def test_tiny_policy_scores_match_the_stored_answers(tmp_path, countdown16, generated):
    result = score(countdown16, tmp_path, num_samples=8, batch_size=64)
    assert generated == [8, 8]  # 64 sequences per call: 8 prompts of 8 samples
    assert result.num_generated == 16 and len(result.scores) == len(result.records) == 16
    assert all(0 <= s <= math.log(8) + 1e-12 for s in result.scores)
    # The policy agrees with itself on some prompts more than on others: the scores are not degenerate.
    assert len(set(result.scores)) > 3
    for index, (record, row) in enumerate(zip(result.records, countdown16, strict=True)):
        assert record["index"] == index and len(record["answers"]) == 8
        assert record["semantic_entropy"] == result.scores[index]
        assert result.scores[index] == pytest.approx(semantic_entropy(record["answers"]))
        assert sum(record["cluster_sizes"]) == 8
        assert record["num_no_answer"] == record["answers"].count(None)
        # Every answer is the value of some expression over the row's numbers.
        assert all(answer is None or isinstance(answer, int) for answer in record["answers"])
        assert {answer for answer in record["answers"] if answer is not None} <= reachable_values(row["numbers"])
    assert sorted(os.listdir(result.cache_path)) == ["scores.jsonl", "settings.json"]
    stored = [json.loads(line) for line in (Path(result.cache_path) / "scores.jsonl").read_text().splitlines()]
    assert stored == result.records
    assert result.settings["task"] == "countdown" and result.settings["max_new_tokens"] == 12
    assert result.settings["temperature"] == 1.0 and result.settings["top_p"] == 1.0


def reachable_values(numbers):
    import itertools

    values = set()
    for order in itertools.permutations(numbers):
        for ops in itertools.product("+-*", repeat=len(numbers) - 1):
            expression = str(order[0]) + "".join(op + str(n) for op, n in zip(ops, order[1:], strict=True))
            values.add(parse_expression(expression)[1])
    return values


def test_second_call_reads_the_cache(tmp_path, countdown16, generated, monkeypatch):
    first = score(countdown16, tmp_path)
    calls = len(generated)

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded although every score is cached")

    monkeypatch.setattr(scorer, "_load_hf", no_loading)
    second = score(countdown16, tmp_path)
    assert len(generated) == calls and second.num_generated == 0
    assert second.records == first.records and second.cache_path == first.cache_path


def test_cache_key_follows_model_dataset_and_settings(tmp_path, countdown16, tiny_model, tokenizer):
    small = countdown16.select(range(4))
    policy, policy_tokenizer = load_tiny_policy()
    loaded = dict(model=policy, tokenizer=policy_tokenizer)
    base = score(small, tmp_path, **loaded).cache_path
    variants = [
        score(small, tmp_path, **loaded, num_samples=2),
        score(small, tmp_path, **loaded, temperature=0.7),
        score(small, tmp_path, **loaded, top_p=0.9),
        score(small, tmp_path, **loaded, seed=1),
        score(small, tmp_path, **loaded, max_new_tokens=8),
        score(small, tmp_path, **loaded, batch_size=8),
        score(small, tmp_path, **loaded, no_answer="singleton"),
        score(small, tmp_path, **loaded, task=lambda completion, row: completion.strip() or None, max_new_tokens=12),
        score(countdown16.select(range(1, 5)), tmp_path, **loaded),
        score(small, tmp_path, model=tiny_model, tokenizer=tokenizer),
        score(small, tmp_path),
    ]
    paths = [result.cache_path for result in variants]
    assert base not in paths and len(set(paths)) == len(paths)
    # Same values, another `datasets` object: the same key.
    assert score(Dataset.from_list(small.to_list()), tmp_path, **loaded).cache_path == base
    # The shipped policy under its alias and under its path: the same key, read from the cache.
    alias = variants[-1]
    by_path = score(small, tmp_path, model=TINY_POLICY_PATH)
    assert by_path.cache_path == alias.cache_path and by_path.num_generated == 0


def test_model_fingerprints(tmp_path, tiny_model, tokenizer):
    checkpoint = tmp_path / "policy"
    shutil.copytree(TINY_POLICY_PATH, checkpoint)
    assert model_fingerprint(str(checkpoint)) == model_fingerprint(TINY)
    weights = checkpoint / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # the last byte of the last tensor
    weights.write_bytes(bytes(data))
    changed_weights = model_fingerprint(str(checkpoint))
    assert changed_weights != model_fingerprint(TINY)
    # A byte in the middle of the file (outside its first and last MiB) counts as much as any other.
    middle = len(data) // 2
    assert 1 << 20 < middle < len(data) - (1 << 20)
    data[middle] ^= 1
    weights.write_bytes(bytes(data))
    assert model_fingerprint(str(checkpoint)) != changed_weights
    data[middle] ^= 1
    weights.write_bytes(bytes(data))
    assert model_fingerprint(str(checkpoint)) == changed_weights
    config = json.loads((checkpoint / "config.json").read_text())
    config["rms_norm_eps"] = 1e-5
    (checkpoint / "config.json").write_text(json.dumps(config))
    assert model_fingerprint(str(checkpoint)) != changed_weights
    # A model id: the id and the revision.
    assert model_fingerprint("org/model") != model_fingerprint("org/model", revision="v2")
    # A loaded model: its parameters.
    before = model_fingerprint(tiny_model, tokenizer)
    assert model_fingerprint(tiny_model, tokenizer) == before
    with torch.no_grad():
        tiny_model.model.norm.weight[-1] += 1.0
    assert model_fingerprint(tiny_model, tokenizer) != before


def test_dataset_fingerprint_reads_values_in_row_order(countdown16):
    columns = ["prompt", "numbers", "target"]
    assert dataset_fingerprint(countdown16, columns) == dataset_fingerprint(
        Dataset.from_list(countdown16.to_list()), columns
    )
    reordered = countdown16.select([1, 0, *range(2, 16)])
    assert dataset_fingerprint(reordered, columns) != dataset_fingerprint(countdown16, columns)
    # A column the scorer does not read does not matter.
    extra = countdown16.add_column("source", ["x"] * 16)
    assert dataset_fingerprint(extra, columns) == dataset_fingerprint(countdown16, columns)


def test_resume_after_an_interruption(tmp_path, countdown16, generated, monkeypatch):
    expected = score(countdown16, tmp_path / "uninterrupted").records
    generated.clear()

    # 16 prompts in 4 chunks of 4; the run dies during its third chunk.
    counting = backends.generate_hf

    def dying(model, tokenizer, prompts, *args):
        if len(generated) == 2:
            raise KeyboardInterrupt
        return counting(model, tokenizer, prompts, *args)

    monkeypatch.setattr(backends, "generate_hf", dying)
    with pytest.raises(KeyboardInterrupt):
        score(countdown16, tmp_path)
    (cache_path,) = (tmp_path / "cache").iterdir()
    part = cache_path / "scores.part-0.jsonl"
    lines = part.read_text().splitlines()
    assert len(lines) == 8 and not (cache_path / "scores.jsonl").exists()
    # The last record was cut off mid-line (as by a kill during the write): its chunk is redone.
    part.write_text("\n".join(lines[:7]) + "\n" + lines[7][:25])

    monkeypatch.setattr(backends, "generate_hf", counting)
    generated.clear()
    resumed = score(countdown16, tmp_path)
    assert generated == [4, 4, 4] and resumed.num_generated == 12  # chunks 2, 3 and 4
    assert resumed.records == expected
    assert sorted(os.listdir(cache_path)) == ["scores.jsonl", "settings.json"]


def test_conversational_prompts_go_through_the_chat_template(
    tmp_path, countdown16, tokenizer, tiny_model, monkeypatch
):
    tokenizer = tokenizer.__class__.from_pretrained(TINY_POLICY_PATH)
    # The generation prompt is one space after the user's message (a character of the tiny vocabulary).
    tokenizer.chat_template = (
        "{% for message in messages %}{{ message['content'] }}{% endfor %}{% if add_generation_prompt %} {% endif %}"
    )
    rows = countdown16.select(range(4)).to_list()
    dataset = Dataset.from_list([{**row, "prompt": [{"role": "user", "content": row["prompt"]}]} for row in rows])
    seen = []
    original = backends.generate_hf

    def recording(model, tok, prompts, num_samples, temperature, top_p, max_new_tokens, add_special_tokens, seed):
        seen.append((list(prompts), add_special_tokens))
        return original(model, tok, prompts, num_samples, temperature, top_p, max_new_tokens, add_special_tokens, seed)

    monkeypatch.setattr(backends, "generate_hf", recording)
    result = score(dataset, tmp_path, model=tiny_model, tokenizer=tokenizer)
    assert seen == [([row["prompt"] + " " for row in rows], False)]
    assert len(result.scores) == 4
    # Plain prompts are tokenized with the tokenizer's defaults, as TRL 1.16's GRPOTrainer does.
    seen.clear()
    score(Dataset.from_list(rows), tmp_path, model=tiny_model, tokenizer=tokenizer)
    assert seen == [([row["prompt"] for row in rows], True)]
    tokenizer.chat_template = None
    with pytest.raises(ValueError, match="conversational but the tokenizer has no chat template"):
        score(dataset, tmp_path / "other", model=tiny_model, tokenizer=tokenizer)


def test_math_task(tmp_path, tiny_model, tokenizer, monkeypatch):
    dataset = Dataset.from_dict({"prompt": ["What is 1/2?", "What is 2+2?"], "answer": ["1/2", "4"]})
    fixed_completions(
        monkeypatch,
        {
            "What is 1/2?": ["so \\boxed{0.5}", "\\boxed{\\frac{1}{2}}", "\\boxed{3}", "I do not know"],
            "What is 2+2?": ["\\boxed{4}", "The final answer is $4$.", "\\boxed{4}", "\\boxed{4.0}"],
        },
    )
    # The default cap for math (2048) does not fit in the tiny model's 64 positions.
    with pytest.raises(ValueError, match=r"--max-new-tokens 2048 needs \d+ positions, but the model has 64"):
        score(dataset, tmp_path, model=tiny_model, tokenizer=tokenizer)
    result = score(dataset, tmp_path, model=tiny_model, tokenizer=tokenizer, max_new_tokens=32)
    first, second = result.records
    assert first["answers"] == ["0.5", "\\frac{1}{2}", "3", None]
    assert first["cluster_sizes"] == [2, 1, 1] and first["num_no_answer"] == 1
    assert result.scores[0] == pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)))
    assert second["cluster_sizes"] == [4] and result.scores[1] == 0.0
    assert result.settings["task"] == "math" and result.settings["max_new_tokens"] == 32
    ignored = score(dataset, tmp_path, model=tiny_model, tokenizer=tokenizer, no_answer="ignore", max_new_tokens=32)
    assert ignored.scores[0] == pytest.approx(-(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)))


def test_custom_task_and_equivalence(tmp_path, tiny_model, tokenizer, monkeypatch):
    dataset = Dataset.from_dict({"prompt": ["a", "b"], "unit": ["m", "s"]})
    fixed_completions(monkeypatch, {"a": ["1 m", "100 cm", "2 m", "?"], "b": ["3 s", "3 s", "3 s", "3 s"]})

    def extract(completion, row):
        # The value in the row's unit, None when the completion has none.
        number, _, unit = completion.partition(" ")
        if not number.isdigit():
            return None
        return int(number) / (100 if unit == "cm" else 1)

    result = score(dataset, tmp_path, model=tiny_model, tokenizer=tokenizer, task=extract, max_new_tokens=32,
                   equivalent=lambda a, b: abs(a - b) < 1e-9, no_answer="singleton")  # fmt: skip
    assert result.records[0]["answers"] == [1.0, 1.0, 2.0, None]
    assert result.records[0]["cluster_sizes"] == [2, 1, 1]
    assert result.scores == [pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))), 0.0]

    def not_json(completion, row):
        return {completion}

    with pytest.raises(TypeError, match="JSON-serialisable"):
        score(dataset, tmp_path, model=tiny_model, tokenizer=tokenizer, task=not_json, max_new_tokens=32)


def test_vllm_backend(tmp_path, monkeypatch):
    created = {"params": []}
    texts = ["1+2+3", "3*2*1", "9", ""]

    def fake_generate(prompts, params, use_tqdm=False):
        created["params"].append(params.kwargs)
        outputs = [types.SimpleNamespace(text=t, token_ids=[1, 2], finish_reason="stop") for t in texts]
        return [types.SimpleNamespace(outputs=outputs[: params.kwargs["n"]]) for _ in prompts]

    def fake_llm(**kwargs):
        created["llm"] = kwargs
        return types.SimpleNamespace(generate=fake_generate, get_tokenizer=lambda: None)

    fake_vllm = types.SimpleNamespace(
        LLM=fake_llm, SamplingParams=lambda **kwargs: types.SimpleNamespace(kwargs=kwargs)
    )
    dataset = Dataset.from_dict({"prompt": ["1 2 3=6:"] * 6, "numbers": [[1, 2, 3]] * 6, "target": [6] * 6})
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm)
    result = score(dataset, tmp_path, model="some/model", backend="vllm", batch_size=12, seed=5)
    assert created["llm"] == {"model": "some/model", "dtype": "auto", "seed": 5}
    assert len(created["params"]) == 2  # 6 prompts, 3 per chunk
    assert created["params"][1] == {"n": 4, "temperature": 1.0, "top_p": 1.0, "max_tokens": 12,
                                    "seed": evaluator.chunk_seed(5, 1)}  # fmt: skip
    # 1+2+3 and 3*2*1 are both 6; "9" is not an expression over 1, 2, 3; "" is no answer: clusters 2 and 2.
    assert result.records[0]["answers"] == [6, 6, None, None] and result.scores[0] == pytest.approx(math.log(2))
    monkeypatch.setitem(sys.modules, "vllm", None)  # not installed
    with pytest.raises(ImportError, match=r"pip install vllm"):
        score(dataset, tmp_path / "other", model="some/model", backend="vllm")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(num_samples=0), ValueError, r"`num_samples` must be an integer >= 1, got 0"),
        (dict(temperature=-1.0), ValueError, r"`temperature` must be >= 0 \(0 = greedy\), got -1.0"),
        (dict(top_p=1.5), ValueError, r"`top_p` must be in \(0, 1\], got 1.5"),
        (dict(max_new_tokens=0), ValueError, r"`max_new_tokens` must be an integer >= 1, got 0"),
        (dict(batch_size=0), ValueError, r"`batch_size` must be an integer >= 1, got 0"),
        (dict(backend="sglang"), ValueError, r"`backend` must be one of \('hf', 'vllm'\), got 'sglang'"),
        (dict(seed=-1), ValueError, r"`seed` must be an integer >= 0, got -1"),
        (dict(no_answer="skip"), ValueError, r"`no_answer` must be one of \('cluster', 'singleton', 'ignore'\)"),
        (
            dict(task="gsm8k"),
            ValueError,
            r"`task` must be one of \('auto', 'countdown', 'countdown-steps', 'math'\) or a callable",
        ),
        (dict(equivalent="=="), ValueError, r"`equivalent` must be a callable"),
    ],
)
def test_invalid_settings(tmp_path, countdown16, kwargs, error, message):
    with pytest.raises(error, match=message):
        score(countdown16, tmp_path, **kwargs)


def test_invalid_inputs(tmp_path, countdown16, tiny_model):
    with pytest.raises(ValueError, match=r"must have a `prompt` column"):
        score(countdown16.rename_column("prompt", "question"), tmp_path)
    with pytest.raises(ValueError, match=r"at least one row"):
        score(countdown16.select([]), tmp_path)
    with pytest.raises(TypeError, match=r"must be a `datasets.Dataset`"):
        score(countdown16.to_list(), tmp_path)
    with pytest.raises(ValueError, match=r"'countdown' needs the dataset columns `numbers` and `target`"):
        score(countdown16.remove_columns("target"), tmp_path, task="countdown")
    with pytest.raises(ValueError, match=r"`tokenizer` is required"):
        score(countdown16, tmp_path, model=tiny_model)


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("TRL_ENTROPY_CACHE", str(tmp_path))
    assert default_cache_dir() == os.path.join(str(tmp_path), "semantic_entropy")
    monkeypatch.delenv("TRL_ENTROPY_CACHE")
    assert default_cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "trl_entropy", "semantic_entropy")


def test_score_distribution_by_hand():
    ln2 = math.log(2)
    summary = score_distribution([0.0, 2 * ln2, float("nan"), ln2, 0.0], num_bins=2)
    assert summary["count"] == 4 and summary["num_nan"] == 1
    assert summary["mean"] == pytest.approx(3 * ln2 / 4)
    # Sorted [0, 0, ln 2, 2 ln 2]; the q-quantile sits at position q * 3, linearly interpolated.
    expected = {"0": 0.0, "25": 0.0, "50": ln2 / 2, "75": 1.25 * ln2, "100": 2 * ln2}
    assert summary["quantiles"] == pytest.approx(expected)
    assert summary["zero_share"] == 0.5
    assert summary["histogram"]["edges"] == pytest.approx([0.0, ln2, 2 * ln2])
    assert summary["histogram"]["counts"] == [2, 2]  # [0, ln 2) and [ln 2, 2 ln 2]
    text = format_score_distribution(summary, bar_width=10)
    assert "4 prompts" in text and "SE = 0: 50.0%" in text and "1 without any answer" in text
    assert text.splitlines()[1].endswith("2 " + "#" * 10)
    # All zero: one bin holds everything.
    assert score_distribution([0.0, 0.0], num_bins=3)["histogram"]["counts"] == [2, 0, 0]
    assert score_distribution([float("nan")])["mean"] is None
    with pytest.raises(ValueError, match=r"`num_bins` must be an integer >= 1, got 0"):
        score_distribution([0.0], num_bins=0)


def test_cli_writes_the_curriculum(tmp_path, capsys):
    from trl_entropy.cli import main

    output = tmp_path / "curriculum"
    main(["curriculum", "--dataset-size", "16", "--num-samples", "4", "--batch-size", "16", "--output-dir",
          str(output), "--cache-dir", str(tmp_path / "cache"), "--order", "stages", "--num-stages", "2"])  # fmt: skip
    printed = capsys.readouterr().out
    assert "16 prompts, mean SE" in printed and str(output) in printed
    curriculum = load_from_disk(str(output))
    assert len(curriculum) == 16 and {"semantic_entropy", "curriculum_stage", "prompt"} <= set(curriculum.column_names)
    # The same scores as the library call, in curriculum order: stage 1 holds the 8 lowest.
    expected = score(build_dataset(split="train", n=16, seed=0), tmp_path)
    assert expected.num_generated == 0  # the command's scores, read from its cache
    assert sorted(curriculum["semantic_entropy"]) == sorted(expected.scores)
    stages = curriculum["curriculum_stage"]
    assert stages == [1] * 8 + [2] * 8
    assert max(curriculum["semantic_entropy"][:8]) <= min(curriculum["semantic_entropy"][8:])
    summary = json.loads((output / "score_summary.json").read_text())
    assert summary["count"] == 16 and summary["mean"] == pytest.approx(sum(expected.scores) / 16)
    assert summary["cache_path"] == expected.cache_path


def test_cli_reads_local_files(tmp_path):
    from trl_entropy.sent.scoring import load_prompt_dataset

    rows = build_dataset(split="train", n=5, seed=0).to_list()
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert load_prompt_dataset(str(path)).to_list() == rows
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    assert load_prompt_dataset(str(tmp_path / "saved"), size=3).to_list() == rows[:3]
    with pytest.raises(ValueError, match=r"Unsupported dataset file"):
        (tmp_path / "prompts.txt").write_text("x")
        load_prompt_dataset(str(tmp_path / "prompts.txt"))


def test_two_processes_give_the_one_process_scores(tmp_path, countdown16):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               str(ROOT / "tests" / "scripts" / "two_process_scoring_check.py"), str(tmp_path)]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    expected = score(countdown16, tmp_path / "one-process")
    for rank in (0, 1):
        got = json.loads((tmp_path / f"rank-{rank}.json").read_text())
        assert got["world_size"] == 2
        # Every process returns all the scores, equal to one process's.
        assert got["records"] == expected.records and got["scores"] == expected.scores
        assert got["num_generated"] == 16
        assert got["generated_prompts"] == [4, 4]  # 4 chunks of 4 prompts: 2 per process
        assert got["cached_records_equal"] and got["cached_num_generated"] == 0
        assert got["generated_prompts_after_cache"] == []
        assert got["cache_files"] == ["scores.jsonl", "settings.json"]
