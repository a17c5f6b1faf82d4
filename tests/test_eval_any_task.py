# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`trl-entropy eval` on any task: the local benchmark and its name, the prompt template, the graders, the answer
extractor import path, and the refusal when most completions have no answer (and its override)."""

import json
import sys

import pytest

from trl_entropy.eval import evaluator
from trl_entropy.eval.benchmarks import load_benchmark
from trl_entropy.eval.plain_text import PlainTextGrader
from trl_entropy.import_path import ImportPathError, import_callable
from trl_entropy.model_card import _eval_results, load_evaluations
from trl_entropy.sampling import backends
from trl_entropy.tasks import TINY_POLICY_PATH


ROWS = [{"question": f"{a}+{a}", "answer": str(2 * a)} for a in range(1, 9)]


@pytest.fixture
def local_file(tmp_path):
    path = tmp_path / "my_sums.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    return path


@pytest.fixture
def extractor_module(tmp_path, monkeypatch):
    (tmp_path / "my_extractors.py").write_text(
        "def after_ans(text):\n    return text.split('ANS ')[-1] if 'ANS ' in text else None\nNOT_CALLABLE = 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_extractors", raising=False)  # a fresh import of this test's module
    return "my_extractors.after_ans"


def answering(monkeypatch, answer_of):
    """Sampling replaced: every sample of a prompt `a+a...` is `answer_of(a)`; returns the prompts seen."""
    seen = []

    def generate(model, tokenizer, prompts, num_samples, *args):
        seen.extend(prompts)
        return [
            [{"text": answer_of(int(p.split("+")[0].split()[-1])), "num_tokens": 3, "truncated": False}] * num_samples
            for p in prompts
        ]

    monkeypatch.setattr(backends, "generate_hf", generate)
    return seen


def run_cli(*args):
    # `trl-entropy eval ARGS` (the command's own entry point, which returns the summary).
    return evaluator.main(["--model", TINY_POLICY_PATH, "--num-samples", "2", "--max-new-tokens", "4", *args])


class TestLocalBenchmark:
    def test_named_after_the_file_or_given_name(self, local_file):
        benchmark = load_benchmark("local", path=str(local_file))
        assert benchmark.name == "my_sums" and len(benchmark) == 8 and benchmark.kind == "math"
        assert benchmark.problems[0] == {"id": "0", "problem": "1+1", "answer": "2"}
        assert load_benchmark("local", path=str(local_file), benchmark_name="sums-v2").name == "sums-v2"

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({}, "pass its `path`"),
            ({"path": "FILE", "benchmark_name": "../up"}, "benchmark name must be"),
            ({"path": "FILE", "benchmark_name": ""}, "benchmark name must be"),
        ],
    )
    def test_refused(self, local_file, kwargs, message):
        kwargs = {key: str(local_file) if value == "FILE" else value for key, value in kwargs.items()}
        with pytest.raises(ValueError, match=message):
            load_benchmark("local", **kwargs)

    def test_name_only_for_local(self, local_file):
        with pytest.raises(ValueError, match="names a local benchmark"):
            load_benchmark("math500", path=str(local_file), benchmark_name="x")

    def test_name_in_summary_output_dir_and_model_index(self, local_file, tmp_path, monkeypatch):
        answering(monkeypatch, lambda a: f"\\boxed{{{2 * a}}}")
        model_dir = tmp_path / "model"
        out = model_dir / "eval" / "sums-v2"
        summary = run_cli("--benchmark", "local", "--path", str(local_file), "--benchmark-name", "sums-v2",
                          "--prompt-template", "{problem}=", "--output-dir", str(out))  # fmt: skip
        assert summary["benchmark"] == "sums-v2" and summary["metrics"]["acc@2"] == 1.0
        assert json.loads((out / "summary.json").read_text())["benchmark"] == "sums-v2"
        assert json.loads((out / "settings.json").read_text())["benchmark"] == "sums-v2"
        results = _eval_results(load_evaluations(model_dir))
        assert {r.dataset_name for r in results} == {"sums-v2"} and {r.dataset_type for r in results} == {"sums-v2"}

    def test_default_output_dir_is_named_after_the_benchmark(self, local_file, tmp_path, monkeypatch):
        import shutil

        answering(monkeypatch, lambda a: f"\\boxed{{{2 * a}}}")
        model = tmp_path / "model"
        shutil.copytree(TINY_POLICY_PATH, model)
        evaluator.main(["--model", str(model), "--num-samples", "2", "--max-new-tokens", "4", "--benchmark", "local",
                        "--path", str(local_file), "--prompt-template", "{problem}="])  # fmt: skip
        assert json.loads((model / "eval" / "my_sums" / "summary.json").read_text())["benchmark"] == "my_sums"


class TestPromptTemplate:
    def test_used_and_recorded(self, local_file, tmp_path, monkeypatch):
        seen = answering(monkeypatch, lambda a: f"\\boxed{{{2 * a}}}")
        summary = run_cli("--benchmark", "local", "--path", str(local_file), "--prompt-template", "Q {problem}=",
                          "--output-dir", str(tmp_path / "out"))  # fmt: skip
        assert seen[0] == "Q 1+1=\n"  # no chat template: plain text ending with a newline
        assert summary["prompt_template"] == "Q {problem}="
        assert json.loads((tmp_path / "out" / "settings.json").read_text())["prompt_template"] == "Q {problem}="

    def test_must_hold_the_problem(self, local_file, capsys):
        with pytest.raises(SystemExit) as exit_info:
            run_cli("--benchmark", "local", "--path", str(local_file), "--prompt-template", "no placeholder")
        assert exit_info.value.code == 2
        error = capsys.readouterr().err.strip()
        assert error.count("\n") == 0 and "must contain `{problem}`" in error

    def test_not_for_countdown(self):
        with pytest.raises(ValueError, match="takes no prompt template"):
            load_benchmark("countdown", prompt_template="{problem}", limit=2)


class TestGraders:
    def test_plain_text_answers_with_each_grader(self, local_file, tmp_path, monkeypatch):
        answering(monkeypatch, lambda a: f"so the answer is {2 * a}.")
        common = ("--benchmark", "local", "--path", str(local_file), "--prompt-template", "{problem}=")
        plain = run_cli(*common, "--grader", "plain", "--output-dir", str(tmp_path / "plain"))
        assert plain["metrics"]["acc@2"] == 1.0 and plain["no_answer_share"] == 0.0
        assert plain["verifier"] == "plain-text numeric (trl_entropy.eval.plain_text)"
        fallback = run_cli(*common, "--grader", "math+plain", "--output-dir", str(tmp_path / "fallback"))
        assert fallback["metrics"]["acc@2"] == 1.0 and fallback["verifier"].endswith("+ plain-text fallback")

    def test_benchmark_builds_the_chosen_grader(self, local_file):
        assert isinstance(load_benchmark("local", path=str(local_file), grader="plain").grader(), PlainTextGrader)
        with pytest.raises(ValueError, match="`grader` must be one of"):
            load_benchmark("local", path=str(local_file), grader="exact")


class TestAnswerExtractor:
    def test_import_path(self, local_file, tmp_path, monkeypatch, extractor_module):
        answering(monkeypatch, lambda a: f"I think 0. ANS {2 * a}")
        summary = run_cli("--benchmark", "local", "--path", str(local_file), "--prompt-template", "{problem}=",
                          "--grader", "plain", "--answer-extractor", extractor_module,
                          "--output-dir", str(tmp_path / "out"))  # fmt: skip
        assert summary["metrics"]["acc@2"] == 1.0
        assert summary["verifier"].endswith("answers extracted by my_extractors.after_ans")
        settings = json.loads((tmp_path / "out" / "settings.json").read_text())
        assert settings["answer_extractor"] == "my_extractors.after_ans" and settings["grader"] == "plain"

    @pytest.mark.parametrize(
        ("path", "message"),
        [
            ("no_such_module.f", "cannot be imported \\(ModuleNotFoundError"),
            ("my_extractors.missing", "cannot be imported \\(AttributeError"),
            ("my_extractors.NOT_CALLABLE", "is a int, not a function"),
            ("nodots", "is not an import path"),
        ],
    )
    def test_bad_paths(self, path, message, extractor_module):
        with pytest.raises(ImportPathError, match=message):
            import_callable(path, "answer extractor")

    def test_bad_path_is_a_one_line_error(self, local_file, capsys, extractor_module):
        with pytest.raises(SystemExit) as exit_info:
            run_cli("--benchmark", "local", "--path", str(local_file), "--answer-extractor", "no_such_module.f")
        assert exit_info.value.code == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith("trl-entropy eval: error: answer extractor 'no_such_module.f' cannot be imported")
        assert error.count("\n") == 0


class TestNoAnswers:
    def test_refused_by_default(self, local_file, tmp_path, monkeypatch, capsys):
        answering(monkeypatch, lambda a: f"so the answer is {2 * a}.")  # plain text, unread by math-verify
        out = tmp_path / "out"
        with pytest.raises(SystemExit) as exit_info:
            run_cli("--benchmark", "local", "--path", str(local_file), "--prompt-template", "{problem}=",
                    "--output-dir", str(out))  # fmt: skip
        assert exit_info.value.code == 2
        # The last line of stderr (above it: the progress bars) is the whole error.
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.startswith("trl-entropy eval: error: 16 of 16")
        assert "16 of 16 completions (100%) have no extractable answer" in error and "--allow-no-answers" in error
        assert not (out / "summary.json").exists()

    def test_override_warns_and_scores(self, local_file, tmp_path, monkeypatch, capsys):
        answering(monkeypatch, lambda a: "\\boxed{2}" if a == 1 else "no idea")
        summary = run_cli("--benchmark", "local", "--path", str(local_file), "--prompt-template", "{problem}=",
                          "--allow-no-answers", "--output-dir", str(tmp_path / "out"))  # fmt: skip
        assert "14 of 16 completions (88%) have no extractable answer" in capsys.readouterr().err
        assert summary["metrics"]["acc@2"] == 1 / 8 and summary["no_answer_share"] == 14 / 16

    def test_half_is_not_refused(self, local_file, tmp_path, monkeypatch):
        answering(monkeypatch, lambda a: f"\\boxed{{{2 * a}}}" if a % 2 else "no idea")
        summary = run_cli("--benchmark", "local", "--path", str(local_file), "--prompt-template", "{problem}=",
                          "--output-dir", str(tmp_path / "out"))  # fmt: skip
        assert summary["no_answer_share"] == 0.5

    def test_stops_early(self, tmp_path, monkeypatch):
        rows = [{"question": f"{a}+{a}", "answer": str(2 * a)} for a in range(1, 41)]
        path = tmp_path / "many.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        seen = answering(monkeypatch, lambda a: "no idea")
        with pytest.raises(evaluator.NoAnswersError, match="64 of 64 completions"):
            evaluator.evaluate(TINY_POLICY_PATH, "local", str(tmp_path / "out"), benchmark_path=str(path),
                               prompt_template="{problem}=", num_samples=4, batch_size=16, max_new_tokens=4,
                               show_progress=False)  # fmt: skip
        assert len(seen) == 16  # 4 chunks of 4 problems, not all 40 problems

    def test_countdown_is_not_checked(self, tmp_path, monkeypatch):
        monkeypatch.setattr(
            backends,
            "generate_hf",
            lambda m, t, prompts, n, *a: [[{"text": "?", "num_tokens": 1, "truncated": False}] * n for _ in prompts],
        )
        summary = evaluator.evaluate(TINY_POLICY_PATH, "countdown", None, limit=4, num_samples=2, show_progress=False)
        assert summary["no_answer_share"] == 1.0
