# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The stage detector and the position schedule survive a checkpoint and resume."""

import json

from conftest import cpu_grpo_kwargs

from trl_entropy import PositionShapingGRPOConfig, PositionShapingGRPOTrainer
from trl_entropy.tasks import countdown_reward, load_tiny_policy


def make(tokenizer, dataset, output_dir, **overrides):
    model, _ = load_tiny_policy()
    kwargs = cpu_grpo_kwargs(
        output_dir,
        per_device_train_batch_size=16,
        num_generations=8,
        max_completion_length=12,
        max_steps=4,
        save_strategy="steps",
        save_steps=2,
        # A detector that needs only two observations, and a schedule that turns on at step 4 (as logged).
        stage_window=2,
        stage_min_steps=0,
        stage_patience=1,
        position_schedule="fixed",
        position_start_step=4,
        position_num_steps=1,
    )
    kwargs.update(overrides)
    return PositionShapingGRPOTrainer(
        model=model,
        reward_funcs=countdown_reward,
        args=PositionShapingGRPOConfig(**kwargs),
        train_dataset=dataset,
        processing_class=tokenizer,
    )


def test_detector_and_schedule_resume(tokenizer, prompt_dataset, tmp_path):
    first = make(tokenizer, prompt_dataset, tmp_path / "run")
    first.train()
    saved = json.loads((tmp_path / "run" / "checkpoint-2" / "trainer_state.json").read_text())
    saved_detector = saved["stateful_callbacks"]["StageDetector"]["attributes"]
    assert [obs[0] for obs in saved_detector["_history"]] == [1, 2]

    resumed = make(tokenizer, prompt_dataset, tmp_path / "run")
    resumed.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-2"))
    # The resumed detector started from the saved observations and added steps 3 and 4 ...
    history = resumed.stage_detector.state()["attributes"]["_history"]
    assert [obs[0] for obs in history] == [1, 2, 3, 4]
    assert history[:2] == saved_detector["_history"]
    # ... and ended in the same state as the uninterrupted run (same data order and sampling after the restore).
    assert resumed.stage_detector.state() == first.stage_detector.state()
    # The fixed schedule acted at logged step 4 only, in both runs.
    active = [e["entropy/position_active"] for e in resumed.state.log_history if "entropy/position_active" in e]
    assert active[-2:] == [0.0, 1.0]


def test_a_second_train_call_restarts_the_detector(tokenizer, prompt_dataset, tmp_path):
    trainer = make(tokenizer, prompt_dataset, tmp_path / "run", max_steps=2, save_strategy="no")
    trainer.train()
    assert [obs[0] for obs in trainer.stage_detector.state()["attributes"]["_history"]] == [1, 2]
    trainer.train()  # from scratch again: steps 1 and 2 once more, not a "step must increase" error
    assert [obs[0] for obs in trainer.stage_detector.state()["attributes"]["_history"]] == [1, 2]
