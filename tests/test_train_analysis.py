# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The recipe script's `analysis_every_n_steps`: an `EntropyAnalysisCallback` on the run, `\\boxed{}` only for math."""

from pathlib import Path

import pytest

from trl_entropy.analysis import ANALYSIS_FILENAME, EntropyAnalysisCallback, load_analysis_records
from trl_entropy.scripts.train import TrainScriptArguments, analysis_callbacks, answers_in_boxed, main


RECIPES = Path(__file__).resolve().parent.parent / "recipes"
QUICK = ["--task_eval_problems", "0", "--report_to", "none", "--disable_tqdm", "true", "--logging_steps", "1"]


def run(recipe: str, output_dir: Path, max_steps: int, *overrides: str):
    argv = ["--config", str(RECIPES / recipe), "--output_dir", str(output_dir), "--max_steps", str(max_steps)]
    return main([*argv, *QUICK, "--analysis_every_n_steps", "1", *overrides])


def analysis_callback(trainer) -> EntropyAnalysisCallback:
    (callback,) = [cb for cb in trainer.callback_handler.callbacks if isinstance(cb, EntropyAnalysisCallback)]
    return callback


def logged_steps(trainer) -> list[int]:
    return [entry["step"] for entry in trainer.state.log_history if "analysis/entropy" in entry]


def test_every_step_is_analysed_written_and_logged(tmp_path):
    trainer = run("tiny_steps/grpo.yaml", tmp_path, 2)
    callback = analysis_callback(trainer)
    assert callback.every_n_steps == 1 and callback.require_boxed is False  # countdown answers are no \boxed{}
    records = load_analysis_records(tmp_path / ANALYSIS_FILENAME)
    assert [record["step"] for record in records] == [1, 2]
    assert logged_steps(trainer) == [1, 2]
    for record in records:
        assert record["metrics"]["entropy"] > 0 and record["metrics"]["gradient_norm"] > 0


def test_ppo_is_analysed_after_the_critic_warm_up(tmp_path):
    # PPO trains through the base trainer's loss pass; the warm-up steps run no policy forward, so nothing to analyse.
    small = ["--ppo_critic_warmup_steps", "1", "--per_device_train_batch_size", "16"]
    trainer = run("tiny_steps/ppo.yaml", tmp_path, 2, *small)
    assert [record["step"] for record in load_analysis_records(tmp_path)] == [2]
    assert logged_steps(trainer) == [2]


def test_off_by_default_and_negative_values_are_refused(capsys, tmp_path):
    assert TrainScriptArguments().analysis_every_n_steps == 0
    assert analysis_callbacks(TrainScriptArguments()) == []
    with pytest.raises(SystemExit) as info:
        run("tiny/grpo.yaml", tmp_path, 1, "--analysis_every_n_steps", "-2")
    assert info.value.code == 2
    assert "error: `analysis_every_n_steps` must be >= 0 (0: no analysis), got -2." in capsys.readouterr().err
    assert not (tmp_path / ANALYSIS_FILENAME).exists()


@pytest.mark.parametrize(
    ("dataset_name", "reward_funcs", "boxed"),
    [
        ("trl-entropy/countdown", ["countdown"], False),
        ("trl-entropy/countdown-steps", ["countdown_steps"], False),
        ("trl-entropy/offline-math", ["boxed_answer", "boxed_format"], True),
        ("trl-entropy/offline-math", ["plain_answer"], True),  # gsm_symbolic asks for a `\boxed{}` answer
        ("data/dapo-math-17k-rl", ["signed_accuracy"], True),
        ("data/still3-rl", ["accuracy", "soft_overlong"], True),
        ("data/my-task", ["my_package.rewards.exact"], False),
    ],
)
def test_missing_boxed_is_flagged_for_math_tasks_only(dataset_name, reward_funcs, boxed):
    script_args = TrainScriptArguments(dataset_name=dataset_name, reward_funcs=reward_funcs, analysis_every_n_steps=5)
    assert answers_in_boxed(script_args) is boxed
    (callback,) = analysis_callbacks(script_args)
    assert callback.every_n_steps == 5 and callback.require_boxed is boxed


def test_plain_text_offline_sums_are_not_required_to_box():
    script_args = TrainScriptArguments(
        dataset_name="trl-entropy/offline-math", dataset_config="small_sums", reward_funcs=["plain_answer"]
    )
    assert answers_in_boxed(script_args) is False
    script_args.reward_funcs = ["boxed_answer"]  # a `\boxed{}` reward asks for the box whatever the prompt
    assert answers_in_boxed(script_args) is True
