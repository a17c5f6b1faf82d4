# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The evaluator ties every evaluation to its weights (no stale resume), checks its inputs and the generation limit
before writing anything, and `trl-entropy eval --help` shows the defaults without importing torch."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from trl_entropy.eval import evaluator
from trl_entropy.eval.evaluator import EvaluationInputError, StaleEvaluationWarning, evaluate
from trl_entropy.eval.limits import GenerationLimitError, check_generation_fits, max_positions
from trl_entropy.fingerprint import short_fingerprint, weights_fingerprint
from trl_entropy.tasks import TINY_POLICY_PATH, load_tiny_policy


ROOT = Path(__file__).resolve().parent.parent
# 8 problems in 2 chunks of 4.
KWARGS = dict(limit=8, num_samples=2, batch_size=8, temperature=1.0, show_progress=False)


def read_records(directory):
    return [json.loads(line) for line in (directory / "samples.jsonl").read_text().splitlines()]


def read_json(path):
    return json.loads(path.read_text())


@pytest.fixture
def policy_dir(tmp_path):
    return Path(shutil.copytree(TINY_POLICY_PATH, tmp_path / "policy"))


def retrain(model_dir):
    # Other weights in the same files, as a second training run into the same output directory leaves them.
    path = model_dir / "model.safetensors"
    tensors = load_file(path)
    generator = torch.Generator().manual_seed(0)
    tensors = {name: t + 0.3 * torch.randn(t.shape, generator=generator) for name, t in tensors.items()}
    save_file(tensors, path, metadata={"format": "pt"})


def all_files(directory):
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def test_same_weights_resume_other_weights_start_afresh(policy_dir, tmp_path, generated):
    out = policy_dir / "eval" / "countdown"
    first = evaluate(str(policy_dir), "countdown", str(out), **KWARGS)
    first_records = read_records(out)
    fingerprint = weights_fingerprint(policy_dir)
    assert fingerprint.startswith("sha256:") and first["weights_fingerprint"] == fingerprint
    assert read_json(out / "settings.json")["weights_fingerprint"] == fingerprint
    assert read_json(out / "summary.json")["weights_fingerprint"] == fingerprint

    generated.clear()
    again = evaluate(str(policy_dir), "countdown", str(out), **KWARGS)
    assert generated == []  # same weights: everything resumed
    assert again["metrics"] == first["metrics"] and read_records(out) == first_records

    retrain(policy_dir)
    new_fingerprint = weights_fingerprint(policy_dir)
    assert new_fingerprint != fingerprint
    generated.clear()
    with pytest.warns(StaleEvaluationWarning) as caught:
        second = evaluate(str(policy_dir), "countdown", str(out), **KWARGS)
    assert generated == [4, 4]  # nothing of the old weights' samples is reused
    message = str(caught[0].message)
    assert str(out) in message and "other weights" in message
    assert short_fingerprint(fingerprint) in message and short_fingerprint(new_fingerprint) in message
    # The figures are those of the new weights: the same as an evaluation of them in a fresh directory.
    fresh = evaluate(str(policy_dir), "countdown", str(tmp_path / "fresh"), **KWARGS)
    assert read_records(out) == read_records(tmp_path / "fresh") != first_records
    assert second["metrics"] == fresh["metrics"]
    assert second["weights_fingerprint"] == new_fingerprint
    assert read_json(out / "settings.json")["weights_fingerprint"] == new_fingerprint
    assert read_json(out / "summary.json")["weights_fingerprint"] == new_fingerprint


def test_an_evaluation_without_fingerprint_is_not_reused(policy_dir, generated):
    out = policy_dir / "eval" / "countdown"
    evaluate(str(policy_dir), "countdown", str(out), **KWARGS)
    # The older format: no fingerprint, and an interrupted run's part file.
    settings = read_json(out / "settings.json")
    del settings["weights_fingerprint"]
    (out / "settings.json").write_text(json.dumps(settings))
    lines = (out / "samples.jsonl").read_text().splitlines()
    (out / "samples.part-0.jsonl").write_text("\n".join(lines[:4]) + "\n")
    generated.clear()
    with pytest.warns(StaleEvaluationWarning, match="older format"):
        evaluate(str(policy_dir), "countdown", str(out), **KWARGS)
    assert generated == [4, 4]
    assert read_json(out / "settings.json")["weights_fingerprint"] == weights_fingerprint(policy_dir)
    assert not list(out.glob("samples.part-*"))


def test_hub_model_has_no_fingerprint_and_resumes_on_settings(tmp_path, monkeypatch, generated):
    # A Hub id (no local directory): loading is redirected to the tiny policy, the config is not fetched.
    monkeypatch.setattr(evaluator, "model_config", lambda model_path, revision=None: None)
    load_hf = evaluator._load_hf
    monkeypatch.setattr(
        evaluator, "_load_hf", lambda model_path, dtype, revision=None: load_hf(TINY_POLICY_PATH, dtype)
    )
    out = tmp_path / "eval"
    summary = evaluate("some-org/tiny-model", "countdown", str(out), **KWARGS)
    assert summary["weights_fingerprint"] is None and read_json(out / "settings.json")["weights_fingerprint"] is None
    generated.clear()
    evaluate("some-org/tiny-model", "countdown", str(out), **KWARGS)
    assert generated == []
    with pytest.raises(EvaluationInputError, match=r"num_samples: 2 -> 4"):
        evaluate("some-org/tiny-model", "countdown", str(out), **{**KWARGS, "num_samples": 4})
    # Still refused with a limit check once loaded (no config fetched up front).
    with pytest.raises(GenerationLimitError, match=r"--max-new-tokens 2048 needs \d+ positions"):
        evaluate("some-org/tiny-model", "countdown", str(tmp_path / "long"), **KWARGS, max_new_tokens=2048)


def test_loaded_model_is_tied_to_its_tensors(tmp_path, generated):
    model, tokenizer = load_tiny_policy()
    out = tmp_path / "eval"
    summary = evaluate(model, "countdown", str(out), tokenizer=tokenizer, **KWARGS)
    fingerprint = summary["weights_fingerprint"]
    # Never the fingerprint of a checkpoint directory, even of the same weights.
    assert fingerprint.startswith("sha256-tensors:") and fingerprint != weights_fingerprint(TINY_POLICY_PATH)
    generated.clear()
    evaluate(model, "countdown", str(out), tokenizer=tokenizer, **KWARGS)
    assert generated == []
    with torch.no_grad():
        model.model.norm.weight.mul_(1.5)
    with pytest.warns(StaleEvaluationWarning):
        changed = evaluate(model, "countdown", str(out), tokenizer=tokenizer, **KWARGS)
    assert generated == [4, 4] and changed["weights_fingerprint"] != fingerprint


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("not-a-model", r"is a directory but not a model checkpoint: it has no config.json"),
        ("./missing-model", r"does not exist: no such checkpoint directory"),
        ("runs/a/b", r"does not exist"),
        ("some-org/not-cached-model", r"its config.json cannot be fetched from the Hub"),
    ],
)
def test_invalid_model_fails_before_writing(tmp_path, monkeypatch, name, message):
    import huggingface_hub.constants

    # No Hub round trips (conftest's HF_HUB_OFFLINE comes after huggingface_hub read its environment).
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "not-a-model" / "notes.txt").write_text("not a checkpoint")
    before = all_files(tmp_path)
    with pytest.raises(EvaluationInputError, match=message):
        evaluate(name, "countdown", evaluator.default_output_dir(name, "countdown"), **KWARGS)
    assert all_files(tmp_path) == before


def test_generation_limit_fails_before_writing(policy_dir, tmp_path, monkeypatch, generated):
    before = all_files(tmp_path)
    # The longest of these countdown prompts is 12 tokens and the tiny policy has 64 positions.
    with pytest.raises(
        GenerationLimitError, match=r"needs 2060 positions, but the model has 64.*--max-new-tokens 52 or less"
    ):
        evaluate(str(policy_dir), "countdown", str(policy_dir / "eval" / "countdown"), **KWARGS, max_new_tokens=2048)
    assert all_files(tmp_path) == before and generated == []
    # The largest cap that fits is accepted.
    evaluate(str(policy_dir), "countdown", str(policy_dir / "eval" / "countdown"), **KWARGS, max_new_tokens=52)


def test_cli_errors_are_one_line_and_leave_nothing(policy_dir, tmp_path, capsys, monkeypatch):
    from trl_entropy.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "not-a-model").mkdir()
    before = all_files(tmp_path)
    cases = [
        ["--model", "not-a-model"],
        ["--model", str(policy_dir), "--max-new-tokens", "100"],
        ["--model", str(policy_dir), "--benchmark", "math500", "--path", "missing.jsonl"],
    ]
    for arguments in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(["eval", *arguments, "--limit", "2"])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("trl-entropy eval: error: "), err
        assert all_files(tmp_path) == before

    main(["eval", "--model", str(policy_dir), "--limit", "4", "--num-samples", "2"])
    printed = capsys.readouterr().out
    assert f"weights {short_fingerprint(weights_fingerprint(policy_dir))}; wall time" in printed
    # Retrained into the same directory: the command says, on one line, that the old samples are discarded.
    retrain(policy_dir)
    main(["eval", "--model", str(policy_dir), "--limit", "4", "--num-samples", "2"])
    captured = capsys.readouterr()
    stale = [line for line in captured.err.splitlines() if "other weights" in line]
    assert len(stale) == 1 and stale[0].startswith(f"trl-entropy eval: {policy_dir / 'eval' / 'countdown'} holds")
    assert f"weights {short_fingerprint(weights_fingerprint(policy_dir))}; wall time" in captured.out


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit) as exit_info:
        evaluator.main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("(default: 8)", "(default: 0.6)", "(default: 0.95)", "(default: 64)", "(default: countdown)",
                  "default: 12 for countdown, 26 for countdown-steps, 2048 for math benchmarks"):  # fmt: skip
        assert shown in text
    assert "(default: None)" not in text


def test_parser_imports_no_heavy_module():
    # The package's own `__init__` is bypassed: what `evaluator` itself imports is measured.
    code = (
        "import sys, types\n"
        f"package = types.ModuleType('trl_entropy'); package.__path__ = [{str(ROOT / 'trl_entropy')!r}]\n"
        "sys.modules['trl_entropy'] = package\n"
        "from trl_entropy.eval.evaluator import build_parser\n"
        "build_parser().format_help()\n"
        "print(sorted(name for name in ('torch', 'transformers', 'trl', 'datasets', 'vllm') if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_check_generation_fits():
    config = {"max_position_embeddings": 64}
    assert check_generation_fits([3, 10], 54, config) == 64
    with pytest.raises(
        GenerationLimitError, match=r"\(10 tokens\) plus --max-new-tokens 55 needs 65 positions, but the model has 64"
    ):
        check_generation_fits([3, 10], 55, config)
    with pytest.raises(GenerationLimitError, match=r"pass max_completion_length 54 or less"):
        check_generation_fits(10, 100, config, what="max_completion_length")
    with pytest.raises(GenerationLimitError, match=r"longest prompt is 64 tokens.*no completion fits"):
        check_generation_fits(64, 1, config)
    # No position field: nothing to check.
    assert check_generation_fits(10_000, 10_000, {"hidden_size": 8}) is None
    assert check_generation_fits(10_000, 10_000, None) is None
    # Other names, a multimodal text config, a rope scaling factor, a checkpoint directory, a config object.
    assert max_positions({"n_positions": 1024}) == 1024
    assert max_positions({"text_config": {"max_position_embeddings": 4096}}) == 4096
    yarn = {"max_position_embeddings": 4096, "rope_scaling": {"rope_type": "yarn", "factor": 4.0}}
    assert max_positions(yarn) == 16384
    assert max_positions(TINY_POLICY_PATH) == 64
    assert max_positions(load_tiny_policy()[0].config) == 64


def test_lora_adapter_with_a_portable_base_name_is_evaluated_on_its_base(tmp_path):
    # A saved LoRA run names its base `trl-entropy/tiny-countdown` (no local path): the evaluator maps it back to the
    # shipped policy, and the adapter's weights take part (B is non-zero here, so they change the samples).
    from peft import LoraConfig, get_peft_model

    model, tokenizer = load_tiny_policy()
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapter_dir = tmp_path / "lora-run"
    peft_model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    config_path = adapter_dir / "adapter_config.json"
    config = read_json(config_path)
    config["base_model_name_or_path"] = "trl-entropy/tiny-countdown"
    config_path.write_text(json.dumps(config))
    assert evaluator.adapter_base_path(str(adapter_dir)) == TINY_POLICY_PATH
    assert evaluator.model_config(str(adapter_dir))["max_position_embeddings"] == max_positions(
        read_json(Path(TINY_POLICY_PATH) / "config.json")
    )

    out = adapter_dir / "eval" / "countdown"
    summary = evaluate(str(adapter_dir), "countdown", str(out), **KWARGS)
    assert summary["weights_fingerprint"] == weights_fingerprint(adapter_dir)
    base = evaluate(TINY_POLICY_PATH, "countdown", str(tmp_path / "base"), **KWARGS)
    assert [r["completions"] for r in read_records(out)] != [r["completions"] for r in read_records(tmp_path / "base")]
    assert base["num_problems"] == summary["num_problems"] == 8
    # The base model's positions bound the adapter's generation too.
    with pytest.raises(GenerationLimitError):
        evaluate(str(adapter_dir), "countdown", str(tmp_path / "too-long"), **{**KWARGS, "max_new_tokens": 1000})
