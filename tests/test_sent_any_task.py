# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`trl-entropy curriculum` on any task: a local file with its name, the prompt template, the graders, the answer
extractor import path, and the refusal when most completions have no answer (and its override)."""

import json
import sys

import pytest
from conftest import fixed_completions
from datasets import Dataset, load_from_disk

from trl_entropy.eval.evaluator import NoAnswersError
from trl_entropy.sent import scoring
from trl_entropy.sent.scoring import apply_prompt_template, score_semantic_entropy
from trl_entropy.tasks import TINY_POLICY_PATH


PROBLEMS = ["1+1", "2+2", "3+3", "4+4"]


@pytest.fixture
def local_file(tmp_path):
    path = tmp_path / "my_sums.jsonl"
    path.write_text("".join(json.dumps({"problem": p, "answer": str(2 * int(p[0]))}) + "\n" for p in PROBLEMS))
    return path


def run_cli(tmp_path, *args):
    return scoring.main(["--model", TINY_POLICY_PATH, "--num-samples", "4", "--batch-size", "16",
                         "--max-new-tokens", "4", "--cache-dir", str(tmp_path / "cache"),
                         "--output-dir", str(tmp_path / "out"), *args])  # fmt: skip


def plain_answers(monkeypatch, template="{problem}="):
    # Two classes for each prompt, written in plain text: "2", "2.0" and "2" (one value) and one other.
    fixed_completions(
        monkeypatch,
        {
            template.replace("{problem}", p): [
                f"The answer is {2 * int(p[0])}",
                f"so {2 * int(p[0])}.0",
                "#### 99",
                f"= {2 * int(p[0])}",
            ]
            for p in PROBLEMS
        },  # fmt: skip
    )


def test_template_name_and_plain_grader(tmp_path, monkeypatch, local_file):
    plain_answers(monkeypatch)
    summary = run_cli(tmp_path, "--dataset", str(local_file), "--prompt-template", "{problem}=", "--grader", "plain")
    assert summary["count"] == 4
    report = json.loads((tmp_path / "out" / "score_summary.json").read_text())
    assert (
        report["dataset"] == "my_sums" and report["prompt_template"] == "{problem}=" and report["no_answer_share"] == 0
    )
    assert report["settings"]["grader"] == "plain"
    curriculum = load_from_disk(str(tmp_path / "out"))
    assert sorted(curriculum["prompt"]) == ["1+1=", "2+2=", "3+3=", "4+4="]  # the curriculum trains on these prompts
    # "2", "2.0" and "2" are one answer: clusters of 3 and 1.
    records = [json.loads(line) for line in open(f"{report['cache_path']}/scores.jsonl")]
    assert all(sorted(record["cluster_sizes"]) == [1, 3] for record in records)
    assert records[0]["answers"] == ["2", "2", "99", "2"]


def test_math_plus_plain_and_dataset_name(tmp_path, monkeypatch, local_file):
    plain_answers(monkeypatch)
    run_cli(tmp_path, "--dataset", str(local_file), "--dataset-name", "sums", "--prompt-template", "{problem}=",
            "--grader", "math+plain")  # fmt: skip
    report = json.loads((tmp_path / "out" / "score_summary.json").read_text())
    assert report["dataset"] == "sums" and report["no_answer_share"] == 0


def test_refused_by_default_and_override(tmp_path, monkeypatch, local_file, capsys):
    plain_answers(monkeypatch)  # plain text: the default math-verify grader reads none of it
    with pytest.raises(SystemExit) as exit_info:
        run_cli(tmp_path, "--dataset", str(local_file), "--prompt-template", "{problem}=")
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("trl-entropy curriculum: error: 16 of 16 completions (100%) have no extractable answer")
    assert "--allow-no-answers" in error and not (tmp_path / "out").exists()
    summary = run_cli(tmp_path, "--dataset", str(local_file), "--prompt-template", "{problem}=", "--allow-no-answers")
    assert "trl-entropy curriculum: warning: 16 of 16 completions" in capsys.readouterr().err
    assert summary["zero_share"] == 1.0  # every prompt's answers form one no-answer cluster


def test_answer_extractor_import_path(tmp_path, monkeypatch, local_file, capsys):
    (tmp_path / "my_sent_extractors.py").write_text("def last_word(text):\n    return text.split()[-1]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_sent_extractors", raising=False)  # a fresh import of this test's module
    plain_answers(monkeypatch)
    run_cli(tmp_path, "--dataset", str(local_file), "--prompt-template", "{problem}=", "--grader", "plain",
            "--answer-extractor", "my_sent_extractors.last_word")  # fmt: skip
    report = json.loads((tmp_path / "out" / "score_summary.json").read_text())
    assert report["settings"]["answer_extractor"].startswith("my_sent_extractors.last_word:")
    with pytest.raises(SystemExit) as exit_info:
        run_cli(tmp_path, "--dataset", str(local_file), "--answer-extractor", "my_sent_extractors.missing")
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("trl-entropy curriculum: error: answer extractor 'my_sent_extractors.missing' cannot be")


def test_template_checks():
    dataset = Dataset.from_dict({"question": ["a"]})
    assert apply_prompt_template(dataset, "Q: {problem}", conversational=True)["prompt"] == [
        [{"role": "user", "content": "Q: a"}]
    ]
    with pytest.raises(ValueError, match="must contain `{problem}`"):
        apply_prompt_template(dataset, "Q:", conversational=False)
    with pytest.raises(ValueError, match="needs a `problem` or `question` column"):
        apply_prompt_template(Dataset.from_dict({"x": ["a"]}), "{problem}", conversational=False)


def test_library_refusal_keeps_the_cache(tmp_path, monkeypatch):
    dataset = Dataset.from_dict({"prompt": ["1+1=", "2+2="]})
    fixed_completions(monkeypatch, {"1+1=": ["?"] * 4, "2+2=": ["?"] * 4})
    kwargs = {"num_samples": 4, "max_new_tokens": 4, "cache_dir": str(tmp_path), "show_progress": False}
    with pytest.raises(NoAnswersError, match="8 of 8 completions"):
        score_semantic_entropy(dataset, TINY_POLICY_PATH, **kwargs)
    with pytest.warns(UserWarning, match="8 of 8 completions"):
        result = score_semantic_entropy(dataset, TINY_POLICY_PATH, allow_no_answers=True, **kwargs)
    assert result.num_generated == 0  # read from the cache the refused call wrote
    with pytest.raises(ValueError, match="apply to math prompts"):
        score_semantic_entropy(Dataset.from_dict({"prompt": ["1 2 3=6:"], "numbers": [[1, 2, 3]], "target": [6]}),
                               TINY_POLICY_PATH, grader="plain", **kwargs)  # fmt: skip
