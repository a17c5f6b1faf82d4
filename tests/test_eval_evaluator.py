# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The sampling evaluator: files, figures recomputed from the samples, resume, settings, vLLM wiring, CLI, callback."""

import json
import math
import sys
import types

import pytest
from conftest import cpu_grpo_kwargs
from trl import GRPOConfig, GRPOTrainer

from trl_entropy import EntropyAdvantageGRPOConfig, EntropyAdvantageGRPOTrainer
from trl_entropy.eval import evaluator
from trl_entropy.eval.benchmarks import load_benchmark
from trl_entropy.eval.callback import EvaluationCallback
from trl_entropy.eval.evaluator import evaluate, sample_and_grade
from trl_entropy.tasks import TINY_POLICY_PATH, countdown_reward, load_tiny_policy
from trl_entropy.tasks.countdown import score_completion


def read_records(directory):
    with open(directory / "samples.jsonl") as f:
        return [json.loads(line) for line in f]


def exact_pass_at_k(n, c, k):
    return 1 - math.comb(n - c, k) / math.comb(n, k)


def test_countdown_files_and_figures_recomputed_from_the_samples(tmp_path):
    out = tmp_path / "eval"
    summary = evaluate("trl-entropy/tiny-countdown", "countdown", str(out), limit=24, num_samples=4, batch_size=32,
                       temperature=1.0, show_progress=False)  # fmt: skip
    assert {p.name for p in out.iterdir()} == {"samples.jsonl", "summary.json", "summary.md", "settings.json"}
    records = read_records(out)
    problems = {p["id"]: p for p in load_benchmark("countdown", limit=24).problems}
    assert [r["id"] for r in records] == list(problems)
    for record in records:
        problem = problems[record["id"]]
        # Correctness comes from the task's own checker, applied here independently.
        assert record["correct"] == [
            score_completion(c, problem["numbers"], problem["target"]) == 1.0 for c in record["completions"]
        ]
        assert len(record["completions"]) == 4
    correct_counts = [sum(r["correct"]) for r in records]
    metrics = summary["metrics"]
    assert list(metrics) == ["acc@4", "maj@4", "pass@1", "pass@2", "pass@4"]
    assert metrics["acc@4"] == pytest.approx(sum(correct_counts) / (4 * len(records)))
    assert metrics["pass@1"] == pytest.approx(metrics["acc@4"])
    for k in (2, 4):
        expected = sum(exact_pass_at_k(4, c, k) for c in correct_counts) / len(records)
        assert metrics[f"pass@{k}"] == pytest.approx(expected)
    # The policy solves some problems and fails others: the figures are not degenerate.
    assert 0 < metrics["acc@4"] < 1 and metrics["pass@1"] <= metrics["pass@2"] <= metrics["pass@4"]
    assert json.loads((out / "summary.json").read_text())["metrics"] == metrics
    assert summary["num_problems"] == 24 and summary["verifier"] == "countdown checker"
    assert "| countdown | 24 | 4 |" in (out / "summary.md").read_text()


def test_resume_skips_finished_chunks_and_gives_the_same_samples(tmp_path, generated):
    kwargs = dict(limit=12, num_samples=2, batch_size=8, temperature=1.0, show_progress=False)
    full = tmp_path / "full"
    evaluate("trl-entropy/tiny-countdown", "countdown", str(full), **kwargs)
    expected = read_records(full)

    # An interrupted run: the first chunk (4 problems) finished, a second one was cut mid-line.
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    (resumed / "settings.json").write_text((full / "settings.json").read_text())
    lines = (full / "samples.jsonl").read_text().splitlines()
    (resumed / "samples.part-0.jsonl").write_text("\n".join(lines[:4]) + "\n" + lines[4][:20])
    generated.clear()  # the full run's calls
    evaluate("trl-entropy/tiny-countdown", "countdown", str(resumed), **kwargs)
    assert generated == [4, 4]  # chunks 2 and 3 only
    assert read_records(resumed) == expected
    assert not list(resumed.glob("samples.part-*"))


def test_chunks_do_not_depend_on_what_else_is_evaluated(tmp_path):
    kwargs = dict(num_samples=2, batch_size=8, temperature=1.0, show_progress=False)
    evaluate("trl-entropy/tiny-countdown", "countdown", str(tmp_path / "a"), limit=8, **kwargs)
    evaluate("trl-entropy/tiny-countdown", "countdown", str(tmp_path / "b"), limit=16, **kwargs)
    assert read_records(tmp_path / "a") == read_records(tmp_path / "b")[:8]


def test_other_settings_in_the_same_directory_are_refused(tmp_path):
    kwargs = dict(limit=4, batch_size=8, show_progress=False)
    evaluate("trl-entropy/tiny-countdown", "countdown", str(tmp_path), num_samples=2, **kwargs)
    with pytest.raises(ValueError, match=r"num_samples: 2 -> 3"):
        evaluate("trl-entropy/tiny-countdown", "countdown", str(tmp_path), num_samples=3, **kwargs)
    summary = evaluate(
        "trl-entropy/tiny-countdown", "countdown", str(tmp_path), num_samples=3, overwrite=True, **kwargs
    )
    assert summary["num_samples"] == 3 and len(read_records(tmp_path)[0]["correct"]) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(num_samples=0), r"`num_samples` must be an integer >= 1, got 0"),
        (dict(top_p=0.0), r"`top_p` must be in \(0, 1\], got 0.0"),
        (dict(temperature=0.0, num_samples=4), r"`temperature` 0 is greedy decoding"),
        (dict(backend="sglang"), r"`backend` must be one of \('hf', 'vllm'\), got 'sglang'"),
    ],
)
def test_invalid_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate("trl-entropy/tiny-countdown", "countdown", limit=2, show_progress=False, **kwargs)


def test_math_grading_clustering_and_majority(tmp_path):
    path = tmp_path / "math.jsonl"
    rows = [{"problem": "What is 1/2?", "answer": "\\frac{1}{2}"}, {"problem": "What is 2+2?", "answer": "4"}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    benchmark = load_benchmark("math500", path=str(path))
    completions = {
        0: ["so \\boxed{0.5}", "\\boxed{\\frac{1}{2}}", "\\boxed{3}", "I do not know"],
        1: ["\\boxed{5}", "\\boxed{5}", "\\boxed{4}", "\\boxed{4}"],
    }

    def generate(prompts, seed):
        assert all("Please reason step by step" in prompt for prompt in prompts)
        index = [r["problem"] for r in rows].index(prompts[0].split("\n")[0])
        return [[{"text": t, "num_tokens": 3, "truncated": False} for t in completions[index]]]

    prompts = [benchmark.build_prompt(problem) for problem in benchmark.problems]
    records = sample_and_grade(generate, benchmark, prompts, num_samples=4, batch_size=4, seed=0, show_progress=False)
    first, second = records
    assert first["correct"] == [True, True, False, False]
    assert first["clusters"] == [0, 0, 1, None]  # 0.5 and 1/2 are one answer; no answer does not vote
    assert second["correct"] == [False, False, True, True]
    assert second["clusters"] == [0, 0, 1, 1]
    summary = evaluator.summarize_records(records, benchmark, {"model": "m", "temperature": 0.6, "top_p": 0.95,
                                                               "max_new_tokens": 8, "backend": "hf", "seed": 0}, [1, 4])  # fmt: skip
    # Problem 1: majority {0.5, 1/2} is correct -> 1. Problem 2: two classes of 2 votes, one correct -> 0.5.
    assert summary["metrics"] == {"acc@4": 0.5, "maj@4": 0.75, "pass@1": 0.5, "pass@4": 1.0}
    assert summary["verifier"].startswith("math-verify ")


def test_vllm_backend_wiring(tmp_path, monkeypatch):
    created = {}

    class FakeSamplingParams:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    class FakeLLM:
        def __init__(self, **kwargs):
            created["llm"] = kwargs

        def get_tokenizer(self):
            return None

        def generate(self, prompts, params, use_tqdm=False):
            created.setdefault("params", []).append(params.kwargs)
            sample = types.SimpleNamespace(text="1+2+3", token_ids=[1, 2, 3, 4], finish_reason="stop")
            return [types.SimpleNamespace(outputs=[sample] * params.kwargs["n"]) for _ in prompts]

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=FakeLLM, SamplingParams=FakeSamplingParams))
    summary = evaluate(TINY_POLICY_PATH, "countdown", str(tmp_path), backend="vllm", limit=6, num_samples=3,
                       batch_size=9, seed=5, show_progress=False)  # fmt: skip
    assert created["llm"] == {"model": TINY_POLICY_PATH, "dtype": "auto", "seed": 5}
    assert len(created["params"]) == 2  # 6 problems, 3 per chunk
    assert created["params"][0] == {"n": 3, "temperature": 0.6, "top_p": 0.95, "max_tokens": 12,
                                    "seed": evaluator.chunk_seed(5, 0)}  # fmt: skip
    assert summary["decoding"]["backend"] == "vllm" and summary["mean_completion_tokens"] == 4


def test_cli(tmp_path, capsys):
    from trl_entropy.cli import main

    main(["eval", "--benchmark", "countdown", "--limit", "4", "--num-samples", "2", "--output-dir", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "| benchmark | problems | N | acc@2 | maj@2 | pass@1 | pass@2 |" in printed
    assert json.loads((tmp_path / "summary.json").read_text())["num_problems"] == 4


@pytest.mark.parametrize("plain_grpo", [False, True])
def test_callback_logs_during_training(tmp_path, tokenizer, prompt_dataset, plain_grpo):
    model, _ = load_tiny_policy()
    config_class, trainer_class = (
        (GRPOConfig, GRPOTrainer) if plain_grpo else (EntropyAdvantageGRPOConfig, EntropyAdvantageGRPOTrainer)
    )
    args = config_class(**cpu_grpo_kwargs(tmp_path, max_completion_length=12, max_steps=2, logging_steps=5))
    trainer = trainer_class(model=model, reward_funcs=countdown_reward, args=args, train_dataset=prompt_dataset,
                            processing_class=tokenizer)  # fmt: skip
    callback = EvaluationCallback(trainer, "countdown", every_n_steps=1, limit=8, num_samples=2, eval_on_start=True)
    trainer.add_callback(callback)
    trainer.train()
    logged = [(entry["step"], entry) for entry in trainer.state.log_history if "eval/countdown/pass@1" in entry]
    # Logged at the step it was measured, although logging_steps is 5.
    assert [step for step, _ in logged] == [0, 1, 2]
    for _, entry in logged:
        assert 0 <= entry["eval/countdown/pass@1"] <= entry["eval/countdown/pass@2"] <= 1
        assert entry["eval/countdown/acc@2"] == entry["eval/countdown/pass@1"]
    history = [json.loads(line) for line in (tmp_path / "eval_history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [0, 1, 2] and history[0]["num_problems"] == 8
    # Weights in the middle of training: no fingerprint, and nothing where the evaluations of saved weights go.
    assert all(h["weights_fingerprint"] is None for h in history) and not (tmp_path / "eval").exists()
    # The same seed at every evaluation: an unchanged policy gives the same figures.
    assert callback.evaluate()["metrics"] == callback.evaluate()["metrics"]


def test_recipe_script_evaluates_during_training(tmp_path):
    from trl_entropy.scripts.train import main

    output_dir = tmp_path / "run"
    main(
        ["--config", "recipes/tiny/grpo.yaml", "--output_dir", str(output_dir), "--max_steps", "2",
         "--logging_steps", "10", "--per_device_train_batch_size", "16", "--task_eval_problems", "0",
         "--eval_benchmark", "countdown", "--eval_benchmark_steps", "2", "--eval_benchmark_problems", "8",
         "--eval_benchmark_samples", "2", "--disable_tqdm", "true"]
    )  # fmt: skip
    state = json.loads((output_dir / "trainer_state.json").read_text())
    logged = [entry for entry in state["log_history"] if "eval/countdown/maj@2" in entry]
    assert [entry["step"] for entry in logged] == [2]
    history = (output_dir / "eval_history.jsonl").read_text().splitlines()
    assert len(history) == 1 and json.loads(history[0])["num_problems"] == 8
