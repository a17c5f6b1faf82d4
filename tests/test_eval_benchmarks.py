# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Benchmark loaders of `trl_entropy.eval.benchmarks`, on small local copies written by the tests (no network)."""

import csv
import json
import re

import datasets
import pytest
from transformers import AutoTokenizer

from trl_entropy.eval.answers import CountdownGrader, MathGrader
from trl_entropy.eval.benchmarks import BENCHMARKS, MATH_INSTRUCTION, Benchmark, load_benchmark
from trl_entropy.tasks.countdown import (
    TINY_POLICY_PATH,
    build_dataset,
    format_prompt,
    generate_problems,
    num_problems,
    solve,
)


# Three rows per benchmark, with the column names of the benchmark's usual Hub copy. All values are strings or
# ints so every file format stores them the same way.
ROWS = {
    "aime24": [
        {
            "id": 60,
            "problem": "Find x.",
            "solution": "Long. $\\boxed{33}$",
            "answer": "033",
            "url": "u",
            "year": "2024",
        },
        {"id": 61, "problem": "Find y.", "solution": "S", "answer": "204", "url": "u", "year": "2024"},
        {"id": 62, "problem": "Find z.", "solution": "S", "answer": "7", "url": "u", "year": "2024"},
    ],
    "aime25": [
        {"problem": "P1", "answer": "70", "id": "0"},
        {"problem": "P2", "answer": "588", "id": "1"},
        {"problem": "P3", "answer": "16", "id": "2"},
    ],
    "amc23": [
        {"id": 0, "question": "Q1", "answer": "27", "url": "u"},
        {"id": 1, "question": "Q2", "answer": "36", "url": "u"},
        {"id": 2, "question": "Q3", "answer": "45", "url": "u"},
    ],
    "math500": [
        {
            "problem": "Convert $(0,3)$.",
            "solution": "S",
            "answer": "\\left( 3, \\frac{\\pi}{2} \\right)",
            "subject": "Precalculus",
            "level": 2,
            "unique_id": "test/precalculus/807.json",
        },
        {"problem": "Q", "solution": "S", "answer": "p - q", "subject": "Algebra", "level": 5, "unique_id": "a.json"},
        {
            "problem": "R",
            "solution": "S",
            "answer": "\\frac{14}{3}",
            "subject": "Algebra",
            "level": 3,
            "unique_id": "b",
        },
    ],
    "minerva": [
        {"question": "M1", "answer": "7.5e-3"},
        {"question": "M2", "answer": "\\frac{1}{2}"},
        {"question": "M3", "answer": "300"},
    ],
}
EXPECTED = {
    "aime24": (["60", "61", "62"], ["Find x.", "Find y.", "Find z."], ["033", "204", "7"]),
    "aime25": (["0", "1", "2"], ["P1", "P2", "P3"], ["70", "588", "16"]),
    "amc23": (["0", "1", "2"], ["Q1", "Q2", "Q3"], ["27", "36", "45"]),
    "math500": (
        ["test/precalculus/807.json", "a.json", "b"],
        ["Convert $(0,3)$.", "Q", "R"],
        ["\\left( 3, \\frac{\\pi}{2} \\right)", "p - q", "\\frac{14}{3}"],
    ),
    # No id column: row indices.
    "minerva": (["0", "1", "2"], ["M1", "M2", "M3"], ["7.5e-3", "\\frac{1}{2}", "300"]),
}
FORMATS = ["jsonl", "json", "parquet", "csv", "save_to_disk"]


def write_copy(rows, directory, fmt):
    """Writes `rows` in one of the supported local formats and returns the path to pass to `load_benchmark`."""
    directory.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        path = directory / "data.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    elif fmt == "json":
        path = directory / "data.json"
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif fmt == "parquet":
        path = directory / "data.parquet"
        datasets.Dataset.from_list(rows).to_parquet(str(path))
    elif fmt == "csv":
        path = directory / "data.csv"
        with open(path, "w", encoding="utf-8", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        path = directory / "saved"
        datasets.Dataset.from_list(rows).save_to_disk(str(path))
    return str(path)


class TestRegistry:
    def test_names_and_defaults(self):
        assert list(BENCHMARKS) == [
            "aime24",
            "aime25",
            "amc23",
            "math500",
            "minerva",
            "countdown",
            "countdown-steps",
            "offline-math",
            "offline-sums",
            "local",
        ]
        assert (BENCHMARKS["math500"].hub_id, BENCHMARKS["math500"].split) == ("HuggingFaceH4/MATH-500", "test")
        assert (BENCHMARKS["aime24"].hub_id, BENCHMARKS["aime24"].split) == ("HuggingFaceH4/aime_2024", "train")
        embedded = ("countdown", "countdown-steps")
        assert all(spec.kind == "math" for name, spec in BENCHMARKS.items() if name not in embedded)
        for name in embedded:
            assert BENCHMARKS[name].kind == name and BENCHMARKS[name].hub_id is None

    def test_unknown_name(self):
        with pytest.raises(ValueError, match="Unknown benchmark 'gsm9k'; known benchmarks: aime24, aime25, amc23"):
            load_benchmark("gsm9k")

    def test_bad_kind(self):
        with pytest.raises(ValueError, match="`kind` must be one of"):
            Benchmark(name="x", problems=[], kind="code")


class TestLocalCopies:
    @pytest.mark.parametrize("fmt", FORMATS)
    @pytest.mark.parametrize("name", list(ROWS))
    def test_load(self, tmp_path, name, fmt):
        path = write_copy(ROWS[name], tmp_path, fmt)
        benchmark = load_benchmark(name, path=path)
        assert benchmark.name == name and benchmark.kind == "math" and len(benchmark) == 3
        ids, problems, answers = EXPECTED[name]
        assert [p["id"] for p in benchmark.problems] == ids
        assert [p["problem"] for p in benchmark.problems] == problems
        assert [p["answer"] for p in benchmark.problems] == answers
        assert all(set(p) == {"id", "problem", "answer"} for p in benchmark.problems)
        assert benchmark.source.startswith(path)

    def test_minerva_solution_only(self, tmp_path):
        # A MATH-style copy with only worked solutions: the answer is the last complete boxed expression.
        rows = [
            {"problem": "A", "solution": "First $\\boxed{1}$, finally $\\boxed{\\frac{1}{2}}$."},
            {"problem": "B", "solution": "Thus \\boxed{\\{1, 2\\}} is the set."},
            {"problem": "C", "solution": "We get \\boxed{ 5 \\text{ m} }"},
        ]
        benchmark = load_benchmark("minerva", path=write_copy(rows, tmp_path, "jsonl"))
        assert [p["answer"] for p in benchmark.problems] == ["\\frac{1}{2}", "\\{1, 2\\}", "5 \\text{ m}"]

    def test_solution_without_box(self, tmp_path):
        rows = [{"problem": "A", "solution": "no box here"}]
        with pytest.raises(ValueError, match="row 0 has no answer column and its 'solution' has no"):
            load_benchmark("minerva", path=write_copy(rows, tmp_path, "jsonl"))

    def test_answer_normalisation(self, tmp_path):
        # ints (AIME copies) and integral floats (some AMC copies) become plain integer strings; one-element lists
        # are unwrapped.
        rows = [
            {"question": "a", "answer": 33},
            {"question": "b", "answer": 27.0},
            {"question": "c", "answer": 2.5},
            {"question": "d", "answer": ["\\frac{1}{2}"]},
        ]
        benchmark = load_benchmark("amc23", path=write_copy(rows, tmp_path, "jsonl"))
        assert [p["answer"] for p in benchmark.problems] == ["33", "27", "2.5", "\\frac{1}{2}"]

    def test_column_oriented_json(self, tmp_path):
        path = tmp_path / "columns.json"
        path.write_text(json.dumps({"question": ["a", "b"], "answer": ["1", "2"]}), encoding="utf-8")
        assert [p["answer"] for p in load_benchmark("amc23", path=str(path)).problems] == ["1", "2"]

    def test_duplicate_ids_fall_back_to_row_index(self, tmp_path):
        rows = [{"id": 7, "problem": "a", "answer": "1"}, {"id": 7, "problem": "b", "answer": "2"}]
        benchmark = load_benchmark("aime24", path=write_copy(rows, tmp_path, "jsonl"))
        assert [p["id"] for p in benchmark.problems] == ["0", "1"]

    @pytest.mark.parametrize("fmt", ["jsonl", "save_to_disk"])
    def test_limit(self, tmp_path, fmt):
        benchmark = load_benchmark("math500", path=write_copy(ROWS["math500"], tmp_path, fmt), limit=2)
        assert [p["id"] for p in benchmark.problems] == ["test/precalculus/807.json", "a.json"]
        assert len(load_benchmark("math500", path=write_copy(ROWS["math500"], tmp_path, fmt), limit=10)) == 3

    def test_bad_limit(self, tmp_path):
        with pytest.raises(ValueError, match="`limit` must be a positive integer or None, got 0"):
            load_benchmark("aime24", path=write_copy(ROWS["aime24"], tmp_path, "jsonl"), limit=0)

    def test_dataset_dict_on_disk(self, tmp_path):
        # Splits of a `DatasetDict`: the registry's default split, or the one asked for.
        path = tmp_path / "dict"
        datasets.DatasetDict(
            {
                "train": datasets.Dataset.from_list(ROWS["aime25"][:1]),
                "test": datasets.Dataset.from_list(ROWS["aime25"]),
            }
        ).save_to_disk(str(path))
        assert len(load_benchmark("aime25", path=str(path))) == 3  # aime25 defaults to "test"
        assert len(load_benchmark("aime25", path=str(path), split="train")) == 1
        with pytest.raises(
            ValueError, match=re.escape("has no split 'validation'; available splits: ['train', 'test']")
        ):
            load_benchmark("aime25", path=str(path), split="validation")
        # aime24 defaults to "train"; with two splits and neither asked for nor default, the choice is refused.
        only = tmp_path / "other"
        datasets.DatasetDict(
            {"a": datasets.Dataset.from_list(ROWS["aime24"]), "b": datasets.Dataset.from_list(ROWS["aime24"])}
        ).save_to_disk(str(only))
        with pytest.raises(ValueError, match=re.escape("several splits ['a', 'b'] and none is 'train'; pass `split`")):
            load_benchmark("aime24", path=str(only))

    def test_local_dataset_directory(self, tmp_path, monkeypatch):
        # A plain directory of data files goes through `datasets.load_dataset`; its cache is kept in tmp_path.
        monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
        directory = tmp_path / "minerva_dir"
        directory.mkdir()
        (directory / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS["minerva"]), encoding="utf-8")
        benchmark = load_benchmark("minerva", path=str(directory))
        assert [p["answer"] for p in benchmark.problems] == EXPECTED["minerva"][2]
        assert benchmark.source.endswith("[test]")

    def test_missing_fields(self, tmp_path):
        rows = [{"text": "a", "label": "1"}]
        with pytest.raises(ValueError) as info:
            load_benchmark("math500", path=write_copy(rows, tmp_path / "p", "jsonl"))
        message = str(info.value)
        assert "no problem column" in message
        assert "tried ['problem', 'question', 'Problem'" in message
        assert "available columns: ['text', 'label']" in message
        rows = [{"problem": "a", "label": "1"}]
        with pytest.raises(ValueError) as info:
            load_benchmark("math500", path=write_copy(rows, tmp_path / "a", "jsonl"))
        message = str(info.value)
        assert "no answer column" in message
        assert "tried ['answer', 'Answer', 'final_answer'" in message
        assert "['solution', 'Solution']" in message
        assert "available columns: ['problem', 'label']" in message

    def test_bad_files(self, tmp_path):
        text = tmp_path / "data.txt"
        text.write_text("hello", encoding="utf-8")
        with pytest.raises(ValueError, match="Unsupported benchmark file"):
            load_benchmark("aime24", path=str(text))
        with pytest.raises(FileNotFoundError, match="does not exist"):
            load_benchmark("aime24", path=str(tmp_path / "missing.jsonl"))
        bad_json = tmp_path / "bad.json"
        bad_json.write_text(json.dumps({"problem": "a"}), encoding="utf-8")
        with pytest.raises(ValueError, match="expected a JSON list of objects"):
            load_benchmark("aime24", path=str(bad_json))
        bad_jsonl = tmp_path / "bad.jsonl"
        bad_jsonl.write_text('{"problem": "a", "answer": "1"}\n[1, 2]\n', encoding="utf-8")
        with pytest.raises(ValueError, match="expected one JSON object"):
            load_benchmark("aime24", path=str(bad_jsonl))

    def test_hub_failure_says_to_pass_a_path(self, monkeypatch):
        calls = []

        def offline(*args, **kwargs):
            calls.append((args, kwargs))
            raise ConnectionError("no network")

        monkeypatch.setattr(datasets, "load_dataset", offline)
        with pytest.raises(RuntimeError) as info:
            load_benchmark("math500")
        message = str(info.value)
        assert "'HuggingFaceH4/MATH-500' (split 'test')" in message
        assert "ConnectionError: no network" in message
        assert "pass a local copy of 'math500' as `path`" in message
        assert calls == [(("HuggingFaceH4/MATH-500",), {"split": "test"})]


class TestCountdown:
    def test_held_out_split(self):
        benchmark = load_benchmark("countdown")
        assert benchmark.kind == "countdown"
        assert len(benchmark) == num_problems("test") > 0
        assert all(set(p) == {"id", "numbers", "target", "prompt"} for p in benchmark.problems)
        assert len({p["id"] for p in benchmark.problems}) == len(benchmark)
        keys = {(tuple(sorted(p["numbers"])), p["target"]) for p in benchmark.problems}
        train = generate_problems(num_problems("train"), seed=0, split="train")
        assert keys.isdisjoint({(tuple(sorted(p["numbers"])), p["target"]) for p in train})
        # Same problems in the same order as the task's own test dataset.
        assert [p["prompt"] for p in benchmark.problems] == build_dataset(split="test")["prompt"]

    def test_limit_is_a_prefix(self):
        full = load_benchmark("countdown").problems
        assert load_benchmark("countdown", limit=5).problems == full[:5]

    def test_train_split_and_errors(self):
        assert len(load_benchmark("countdown", split="train")) == num_problems("train")
        with pytest.raises(ValueError, match="takes no `path`"):
            load_benchmark("countdown", path="x.jsonl")
        with pytest.raises(ValueError, match="Countdown has splits"):
            load_benchmark("countdown", split="validation")

    def test_prompt_and_grading(self):
        benchmark = load_benchmark("countdown", limit=3)
        assert isinstance(benchmark.grader(), CountdownGrader)
        assert benchmark.grader() is benchmark.grader()
        tokenizer = AutoTokenizer.from_pretrained(TINY_POLICY_PATH)
        tokenizer.chat_template = "{% for m in messages %}[{{ m['content'] }}]{% endfor %}"
        for problem in benchmark.problems:
            # The task's bare prompt, never a chat template.
            assert benchmark.build_prompt(problem) == format_prompt(problem["numbers"], problem["target"])
            assert benchmark.build_prompt(problem, tokenizer) == problem["prompt"]
            solution = solve(problem["numbers"], problem["target"])[0]
            assert benchmark.grade(problem, solution).correct is True
            assert benchmark.grade(problem, "1+").correct is False


class TestMathPrompt:
    PROBLEM = {"id": "0", "problem": "What is $1+1$?", "answer": "2"}

    def test_plain_text_without_tokenizer_or_template(self):
        benchmark = Benchmark(name="toy", problems=[self.PROBLEM], kind="math")
        expected = "What is $1+1$?\n\n" + MATH_INSTRUCTION + "\n"
        assert MATH_INSTRUCTION == "Please reason step by step, and put your final answer within \\boxed{}."
        assert benchmark.build_prompt(self.PROBLEM) == expected
        # The shipped tiny tokenizer has no chat template: plain text as well.
        tokenizer = AutoTokenizer.from_pretrained(TINY_POLICY_PATH)
        assert not getattr(tokenizer, "chat_template", None)
        assert benchmark.build_prompt(self.PROBLEM, tokenizer) == expected

    def test_chat_template(self):
        benchmark = Benchmark(name="toy", problems=[self.PROBLEM], kind="math")
        tokenizer = AutoTokenizer.from_pretrained(TINY_POLICY_PATH)
        tokenizer.chat_template = (
            "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>{% endif %}"
        )
        prompt = benchmark.build_prompt(self.PROBLEM, tokenizer)
        assert prompt == "<|user|>What is $1+1$?\n\n" + MATH_INSTRUCTION + "\n<|assistant|>"

    def test_grading(self, tmp_path):
        benchmark = load_benchmark("aime24", path=write_copy(ROWS["aime24"], tmp_path, "jsonl"))
        assert isinstance(benchmark.grader(), MathGrader)
        first = benchmark.problems[0]  # reference "033"
        assert benchmark.grade(first, "so the answer is \\boxed{33}").correct is True
        assert benchmark.grade(first, "so the answer is \\boxed{34}").correct is False
        assert benchmark.grade(first, "no idea").answer is None


def test_offline_math_is_the_held_out_split_prompted_as_in_training():
    pytest.importorskip("reasoning_gym")  # the optional `smollm2` extra
    from trl_entropy.tasks.offline_math import build_offline_math_dataset, format_messages

    benchmark = load_benchmark("offline-math", limit=5)
    assert benchmark.kind == "math" and len(benchmark) == 5
    train_questions = set(build_offline_math_dataset(size=200, split="train")["question"])
    for problem in benchmark.problems:
        assert problem["problem"] not in train_questions
        assert problem["answer"].lstrip("-").isdigit()
        assert benchmark.build_prompt(problem) == format_messages(problem["problem"])[0]["content"] + "\n"
    with pytest.raises(ValueError, match="takes no `path`"):
        load_benchmark("offline-math", path="x.jsonl")
