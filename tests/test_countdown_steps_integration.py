# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The step-by-step Countdown task end to end: the recipe script, `trl-entropy eval`, model cards and the SENT scorer.

The task's shipped policy is built separately (`trl-entropy build-policy --task countdown-steps`); these tests use a
randomly initialised tiny model over the task's characters instead, so they do not depend on it.
"""

import json

import pytest
import torch
import yaml
from conftest import build_tiny_model, fixed_completions
from datasets import Dataset
from transformers import AutoTokenizer

from trl_entropy import model_card
from trl_entropy.eval import CountdownStepsGrader, cluster_answers, load_benchmark
from trl_entropy.eval import evaluator as evaluator_module
from trl_entropy.eval.evaluator import DEFAULT_MAX_NEW_TOKENS, evaluate, resolve_model_name
from trl_entropy.scripts import train
from trl_entropy.sent import scoring
from trl_entropy.tasks import TINY_POLICY_PATH, countdown, countdown_steps
from trl_entropy.tasks.countdown_steps import (
    MAX_COMPLETION_CHARS,
    NUM_NUMBERS,
    STEP_SEPARATOR,
    countdown_steps_reward,
    format_prompt,
    generate_problems,
    score_completion,
)
from trl_entropy.tasks.names import STEPS_DATASET_NAME, TINY_STEPS_POLICY_NAME, TINY_STEPS_POLICY_PATH


NUMBERS, TARGET = [3, 5, 7, 2], 30
TRACES = ["7*5=35,35-3=32,32-2=30", "2+3=5,5*7=35,35-5=30", "7*5=35,35-3=32,32+2=34", "7*5=35,35+"]


@pytest.fixture(scope="module")
def steps_model_dir(tmp_path_factory):
    """A random 2-layer Qwen2 over the countdown characters plus the step separator, saved as a checkpoint."""
    path = tmp_path_factory.mktemp("steps_model")
    tokenizer = AutoTokenizer.from_pretrained(TINY_POLICY_PATH)
    tokenizer.add_tokens([STEP_SEPARATOR])
    build_tiny_model(tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


class TestRecipeScript:
    def test_trains_and_evaluates_the_steps_task(self, steps_model_dir, tmp_path, monkeypatch):
        calls = []
        original = countdown.evaluate_pass_at_1

        def recording(model, tokenizer, problems, **kwargs):
            calls.append((problems, kwargs))
            return original(model, tokenizer, problems, **kwargs)

        monkeypatch.setattr(countdown, "evaluate_pass_at_1", recording)
        recipe = {
            "method": "grpo",
            "model_name_or_path": str(steps_model_dir),
            "dataset_name": STEPS_DATASET_NAME,
            "reward_funcs": ["countdown_steps"],
            "task_train_size": 32,
            "task_eval_problems": 4,
            "task_eval_samples": 1,
            "per_device_train_batch_size": 8,
            "num_generations": 4,
            "max_completion_length": 8,
            "max_steps": 1,
            "use_cpu": True,
            "bf16": False,
            "report_to": "none",
            "save_strategy": "no",
            "disable_tqdm": True,
        }
        (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
        output_dir = tmp_path / "out"
        trainer = train.main(["--config", str(tmp_path / "recipe.yaml"), "--output_dir", str(output_dir)])

        assert trainer.reward_funcs == [countdown_steps_reward]
        assert len(trainer.train_dataset) == 32
        assert all(len(numbers) == NUM_NUMBERS for numbers in trainer.train_dataset["numbers"])
        # Before and after training, on the task's own test split, with its scorer and room for its longest trace.
        assert len(calls) == 2
        for problems, kwargs in calls:
            assert problems == generate_problems(4, seed=0, split="test")
            assert kwargs["score"] is score_completion
            assert kwargs["max_new_tokens"] == MAX_COMPLETION_CHARS + 1  # the recipe's 8 would cut correct traces
        task_eval = json.loads((output_dir / model_card.TASK_EVAL_FILENAME).read_text())
        assert task_eval["num_problems"] == 4
        card = (output_dir / "README.md").read_text()
        assert "the embedded step-by-step countdown task (`trl_entropy.tasks.countdown_steps`, train split)" in card
        assert "`countdown_steps_reward`" in card

    def test_countdown_keeps_its_scorer_and_cap(self, tmp_path, monkeypatch):
        calls = []
        monkeypatch.setattr(countdown, "evaluate_pass_at_1", lambda *args, **kwargs: calls.append(kwargs) or {})

        class Trainer:  # the parts of a trainer `evaluate_on_task` reads
            class accelerator:
                is_main_process = True
                unwrap_model = staticmethod(lambda model: model)
                wait_for_everyone = staticmethod(lambda: None)

            model = torch.nn.Linear(1, 1)
            processing_class = None
            args = type("Args", (), {"max_completion_length": 9})

        script_args = train.TrainScriptArguments(task_eval_problems=3)
        train.evaluate_on_task(Trainer, script_args, seed=0)
        assert calls[0]["score"] is countdown.score_completion and calls[0]["max_new_tokens"] == 9
        script_args.dataset_name = STEPS_DATASET_NAME
        train.evaluate_on_task(Trainer, script_args, seed=0)
        assert calls[1]["score"] is score_completion and calls[1]["max_new_tokens"] == MAX_COMPLETION_CHARS + 1
        script_args.dataset_name = "some/hub-dataset"
        assert train.evaluate_on_task(Trainer, script_args, seed=0) is None and len(calls) == 2

    def test_reward_name(self):
        assert train.resolve_reward_funcs(["countdown_steps", "countdown"]) == [
            countdown_steps_reward,
            countdown.countdown_reward,
        ]
        with pytest.raises(train.RecipeError, match="did you mean 'countdown_steps'"):
            train.resolve_reward_funcs(["countdown_step"])

    def test_dataset_name(self):
        script_args = train.TrainScriptArguments(dataset_name=STEPS_DATASET_NAME, task_train_size=8)
        dataset = train.load_train_dataset(script_args, seed=3)
        assert dataset.to_dict() == countdown_steps.build_dataset("train", n=8, seed=3).to_dict()

    def test_policy_name(self, tmp_path, monkeypatch):
        monkeypatch.setattr(train, "TINY_STEPS_POLICY_PATH", str(tmp_path / "missing"))
        with pytest.raises(train.RecipeError, match="trl-entropy build-policy --task countdown-steps"):
            train.resolve_model_path(TINY_STEPS_POLICY_NAME)
        (tmp_path / "missing").mkdir()
        (tmp_path / "missing" / "config.json").write_text("{}")
        assert train.resolve_model_path(TINY_STEPS_POLICY_NAME) == str(tmp_path / "missing")


class TestBenchmark:
    def test_loads_the_held_out_split(self):
        benchmark = load_benchmark("countdown-steps", limit=5)
        assert benchmark.kind == "countdown-steps" and len(benchmark) == 5
        assert benchmark.source == "trl_entropy.tasks.countdown_steps[test]"
        expected = generate_problems(countdown_steps.num_problems("test"), seed=0, split="test")[:5]
        for problem, reference in zip(benchmark.problems, expected, strict=True):
            assert (problem["numbers"], problem["target"]) == (reference["numbers"], reference["target"])
            assert problem["id"] == f"{','.join(map(str, sorted(problem['numbers'])))}={problem['target']}"
            assert benchmark.build_prompt(problem) == reference["prompt"]
        assert isinstance(benchmark.grader(), CountdownStepsGrader)
        assert len(load_benchmark("countdown-steps", split="train")) == countdown_steps.num_problems("train")
        with pytest.raises(ValueError, match="takes no `path`"):
            load_benchmark("countdown-steps", path="data.jsonl")
        with pytest.raises(ValueError, match="Countdown-steps has splits"):
            load_benchmark("countdown-steps", split="validation")

    def test_grades_with_the_task_checker(self):
        benchmark = load_benchmark("countdown-steps", limit=1)
        problem = {"id": "x", "numbers": NUMBERS, "target": TARGET, "prompt": format_prompt(NUMBERS, TARGET)}
        graded = [benchmark.grade(problem, trace + "<eos>") for trace in TRACES]
        assert [g.correct for g in graded] == [True, True, False, False]
        assert [g.key for g in graded] == [30, 30, 34, None]
        assert graded[0].answer == TRACES[0] and graded[3].answer is None

    def test_default_length_fits_the_longest_trace(self):
        # The longest correct trace, its EOS and 3 tokens of slack, as countdown's 8 + 1 + 3.
        assert DEFAULT_MAX_NEW_TOKENS["countdown-steps"] == MAX_COMPLETION_CHARS + 4
        parser = evaluator_module.build_parser()
        assert parser.parse_args(["--benchmark", "countdown-steps"]).benchmark == "countdown-steps"
        assert "26 for countdown-steps" in " ".join(parser.format_help().split())

    def test_evaluate(self, steps_model_dir, tmp_path):
        summary = evaluate(str(steps_model_dir), "countdown-steps", str(tmp_path), limit=3, num_samples=2)
        assert summary["benchmark"] == "countdown-steps" and summary["num_problems"] == 3
        assert summary["decoding"]["max_new_tokens"] == MAX_COMPLETION_CHARS + 4
        assert summary["verifier"] == "countdown-steps checker"
        records = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
        assert [r["reference"] for r in records] == [p["target"] for p in generate_problems(3, seed=0, split="test")]


class TestGrader:
    def test_answers_are_final_numbers_of_valid_traces(self):
        grader = CountdownStepsGrader()
        assert grader.extract(TRACES[2], NUMBERS) == (TRACES[2], 34)
        assert grader.extract(TRACES[0] + "<eos>junk", NUMBERS) == (TRACES[0], 30)
        assert grader.extract("7*5=35,35-3=32", NUMBERS) == (None, None)  # a number left over
        assert grader.extract("7*5=36,36-3=33,33-3=30", NUMBERS) == (None, None)
        assert grader.extract(None, NUMBERS) == (None, None)
        keys = [grader.grade(trace, NUMBERS, TARGET).key for trace in TRACES]
        assert cluster_answers(keys, grader.equivalent) == [0, 0, 1, None]


class TestModelCard:
    def test_names_the_shipped_steps_policy_portably(self, tmp_path, monkeypatch):
        shipped = tmp_path / "tiny_countdown_steps"
        shipped.mkdir()
        monkeypatch.setattr(model_card.inputs, "TINY_STEPS_POLICY_PATH", str(shipped))  # read by describe_base_model
        described = model_card.describe_base_model(str(shipped))
        assert described["portable_name"] == TINY_STEPS_POLICY_NAME and described["base_model"] is None
        assert described["text"] == (
            f"`{TINY_STEPS_POLICY_NAME}`, the tiny step-by-step countdown policy shipped in "
            "`trl_entropy/policies/tiny_countdown_steps`"
        )
        assert described["license"] == model_card.TINY_POLICY_LICENSE
        assert model_card.describe_base_model(TINY_POLICY_PATH)["portable_name"] == "trl-entropy/tiny-countdown"
        # An adapter naming that base is loaded on the shipped directory again.
        assert resolve_model_name(TINY_STEPS_POLICY_NAME) == TINY_STEPS_POLICY_PATH


class TestSemanticEntropyScoring:
    def test_auto_tells_the_tasks_apart(self):
        steps = countdown_steps.build_dataset("train", n=4, seed=0)
        assert scoring._resolve_task("auto", steps)[0] == "countdown-steps"
        assert scoring._resolve_task("auto", countdown.build_dataset("train", n=4, seed=0))[0] == "countdown"
        assert scoring._resolve_task("countdown", steps)[0] == "countdown"  # an explicit task is kept
        with pytest.raises(ValueError, match="'countdown-steps' needs the dataset columns"):
            scoring._resolve_task("countdown-steps", steps.remove_columns("numbers"))

    def test_scores_by_final_numbers(self, steps_model_dir, tmp_path, monkeypatch):
        prompt = format_prompt(NUMBERS, TARGET)
        dataset = Dataset.from_dict({"prompt": [prompt], "numbers": [NUMBERS], "target": [TARGET]})
        fixed_completions(monkeypatch, {prompt: TRACES})
        result = scoring.score_semantic_entropy(
            dataset, str(steps_model_dir), num_samples=4, cache_dir=str(tmp_path), show_progress=False
        )
        assert result.settings["task"] == "countdown-steps"
        assert result.settings["max_new_tokens"] == MAX_COMPLETION_CHARS + 4
        assert result.records[0]["answers"] == [30, 30, 34, None]
        assert result.records[0]["cluster_sizes"] == [2, 1, 1]

    def test_loads_the_embedded_dataset(self):
        dataset = scoring.load_prompt_dataset(STEPS_DATASET_NAME, size=6, seed=2)
        assert dataset.to_dict() == countdown_steps.build_dataset("train", n=6, seed=2).to_dict()
