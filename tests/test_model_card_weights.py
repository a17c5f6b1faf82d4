# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Model cards describe only the weights next to them: evaluations matched by weights fingerprint, one card per save
path written after the weights, portable names for local base models, and the front matter of issue 12."""

import json
import re

import pytest
import torch
import yaml
from conftest import cpu_grpo_kwargs
from huggingface_hub import metadata_load
from huggingface_hub.repocard_data import model_index_to_eval_results
from peft import LoraConfig

import trl_entropy.hook.saving as trainer_module
from trl_entropy import (
    EntropyAdvantageGRPOConfig,
    EntropyAdvantageGRPOTrainer,
    PositionShapingGRPOConfig,
    PositionShapingGRPOTrainer,
    PPOConfig,
    PPOTrainer,
)
from trl_entropy.analysis import EntropyAnalysisCallback
from trl_entropy.cli import main
from trl_entropy.fingerprint import short_fingerprint, weights_fingerprint
from trl_entropy.model_card import CARD_INPUTS_FILENAME, card_inputs, refresh_model_card, render_model_card
from trl_entropy.tasks import TINY_POLICY_PATH, countdown_reward, load_tiny_policy


def summary(benchmark, fingerprint, pass1):
    record = {
        "benchmark": benchmark,
        "num_problems": 50,
        "num_samples": 4,
        "metrics": {"pass@1": pass1},
        "decoding": {"temperature": 0.6, "top_p": 0.95},
    }
    if fingerprint is not None:
        record["weights_fingerprint"] = fingerprint
    return record


def write_eval(folder, record):
    (folder / "eval" / record["benchmark"]).mkdir(parents=True, exist_ok=True)
    (folder / "eval" / record["benchmark"] / "summary.json").write_text(json.dumps(record))


def front_matter(text):
    return yaml.safe_load(re.match(r"---\n(.*?)\n---\n", text, flags=re.S).group(1))


def make_trainer(output_dir, dataset, model=None, reward_funcs=countdown_reward, callbacks=None, **overrides):
    model = model if model is not None else load_tiny_policy()[0]
    args = EntropyAdvantageGRPOConfig(**cpu_grpo_kwargs(output_dir, **overrides))
    return EntropyAdvantageGRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=dataset,
        processing_class=load_tiny_policy()[1],
        callbacks=callbacks,
    )


@pytest.fixture
def saved(tmp_path, prompt_dataset):
    """A trainer (untrained: the card needs no steps) whose model `save_model` saved into `tmp_path / "final"`."""
    trainer = make_trainer(tmp_path / "run", prompt_dataset)
    final = tmp_path / "final"
    trainer.save_model(str(final))
    return trainer, final


def test_card_shows_only_evaluations_of_the_weights_in_its_folder(saved, capsys):
    trainer, final = saved
    mine = weights_fingerprint(final)
    write_eval(final, summary("countdown", mine, 0.5))
    write_eval(final, summary("math500", "sha256:" + "0" * 64, 0.9))  # of other weights
    write_eval(final, summary("aime24", None, 0.8))  # written before summaries carried a fingerprint
    task_eval = {"num_problems": 16, "samples_per_problem": 2, "temperature": 1.0, "pass_at_1_before": 0.25,
                 "pass_at_1_after": 0.375, "greedy_accuracy_before": 0.5, "greedy_accuracy_after": 0.5625}  # fmt: skip
    (final / "task_eval.json").write_text(json.dumps({**task_eval, "weights_fingerprint": mine}))

    with pytest.warns(UserWarning, match=r"leaves out 2 evaluation\(s\)"):
        main(["card", str(final)])
    assert "model card written to" in capsys.readouterr().out
    card = (final / "README.md").read_text()
    _, results = model_index_to_eval_results(metadata_load(final / "README.md")["model-index"])
    assert {(r.dataset_type, r.metric_type, r.metric_value) for r in results} == {("countdown", "pass@1", 0.5)}
    assert "| `countdown` | 0.5 | 50 | 4 | 0.6 |" in card
    assert "`math500`" not in card.split("Left out")[0] and "`aime24`" not in card.split("Left out")[0]
    assert "Left out of this card: 2 evaluations" in card
    assert f"- `eval/math500/summary.json`: it is of other weights ({'0' * 12})" in card
    assert "- `eval/aime24/summary.json`: it records no weights fingerprint" in card
    # The task evaluation names its problems, samples and temperature beside each pass@1.
    assert (
        "| sampled pass@1 (`pass_at_1_before`, `pass_at_1_after`) | 0.25 | 0.375 | 16 | 2 samples per problem, "
        "temperature 1 |"
    ) in card
    assert "| greedy accuracy (`greedy_accuracy_before`, `greedy_accuracy_after`) | 0.5 | 0.5625 | 16 |" in card

    # New weights saved into the same folder (a retraining): the old evaluations are no longer theirs.
    with torch.no_grad():
        next(trainer.model.parameters()).add_(1.0)
    with pytest.warns(UserWarning, match=r"leaves out 4 evaluation\(s\)"):
        trainer.save_model(str(final))
    card = (final / "README.md").read_text()
    assert "model-index" not in front_matter(card) and "0.375" not in card
    assert f"it is of other weights ({short_fingerprint(mine)})" in card
    assert f"weights fingerprint `{short_fingerprint(weights_fingerprint(final))}`" in card


def test_save_model_without_checkpoints_writes_one_card_next_to_the_weights(saved, monkeypatch):
    trainer, final = saved  # save_strategy="no": no checkpoint ever writes a card
    card = (final / "README.md").read_text()
    assert "`model.safetensors`" in card and json.loads((final / CARD_INPUTS_FILENAME).read_text())["global_step"] == 0
    calls = []
    original = trainer_module.write_model_card
    monkeypatch.setattr(trainer_module, "write_model_card", lambda *a, **kw: calls.append(kw["output_dir"]) or original(*a, **kw))  # fmt: skip
    trainer.save_model(str(final))
    assert calls == [str(final)]  # once


def test_a_checkpoint_save_writes_one_card_into_the_checkpoint_and_none_into_output_dir(tmp_path, prompt_dataset,
                                                                                       monkeypatch):  # fmt: skip
    trainer = make_trainer(tmp_path / "run", prompt_dataset, save_only_model=True)
    calls = []
    original = trainer_module.write_model_card
    monkeypatch.setattr(trainer_module, "write_model_card", lambda *a, **kw: calls.append(kw["output_dir"]) or original(*a, **kw))  # fmt: skip
    trainer._save_checkpoint(trainer.model, trial=None)  # what `train()` does at every save step
    checkpoint = tmp_path / "run" / "checkpoint-0"
    assert calls == [str(checkpoint)]
    assert not (tmp_path / "run" / "README.md").exists()  # output_dir holds no weights
    card = (checkpoint / "README.md").read_text()
    assert f"weights fingerprint `{short_fingerprint(weights_fingerprint(checkpoint))}`" in card
    assert "# run" in card  # a checkpoint's card is named after the run


def test_the_model_name_survives_refreshes_and_later_saves(saved):
    trainer, final = saved
    main(["card", str(final), "--model-name", "countdown-ea"])
    refresh_model_card(final)
    assert "# countdown-ea" in (final / "README.md").read_text()
    trainer.save_model(str(final))  # a later save into the same folder keeps the recorded name
    card = (final / "README.md").read_text()
    assert "# countdown-ea" in card and front_matter(card)["model_name"] == "countdown-ea"
    trainer.create_model_card(model_name="given-name")  # an explicit name is used, and remembered
    trainer.save_model(str(final.parent / "elsewhere"))
    assert "# given-name" in (final.parent / "elsewhere" / "README.md").read_text()


def test_lora_card_and_adapter_config_name_no_local_path(tmp_path, prompt_dataset):
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    args = EntropyAdvantageGRPOConfig(**cpu_grpo_kwargs(tmp_path / "run"))
    trainer = EntropyAdvantageGRPOTrainer(model=TINY_POLICY_PATH, reward_funcs=countdown_reward, args=args,
                                          train_dataset=prompt_dataset, peft_config=lora)  # fmt: skip
    trainer.save_model(str(tmp_path / "adapter"))
    adapter_config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == "trl-entropy/tiny-countdown"
    card = (tmp_path / "adapter" / "README.md").read_text()
    meta = front_matter(card)
    assert meta["library_name"] == "peft" and meta["license"] == "apache-2.0"
    assert "LoRA adapter on the base model above" in card and "`adapter_model.safetensors`" in card
    assert TINY_POLICY_PATH not in card and str(tmp_path) not in card


def test_a_local_base_model_is_named_by_its_folder_and_no_license_is_invented(tmp_path, tiny_model, tokenizer,
                                                                              prompt_dataset):  # fmt: skip
    base = tmp_path / "my-base"
    tiny_model.save_pretrained(base)
    tokenizer.save_pretrained(base)
    trainer = make_trainer(tmp_path / "run", prompt_dataset, model=str(base), max_steps=-1, num_train_epochs=1)
    inputs = card_inputs(trainer)
    assert inputs["base_model"] is None and inputs["license"] is None
    assert inputs["base_model_text"] == "`my-base`, a local checkpoint"
    assert inputs["training_hyperparameters"]["num_train_epochs"] == 1  # epochs decide the run's length here
    card = str(render_model_card(inputs, [], [], None))
    assert str(tmp_path) not in card and "license" not in front_matter(card)
    assert "License: not known here" in card

    # A run started from an earlier trl-entropy run (e.g. SENT's stage 2) inherits its base model's name and license.
    trainer.save_model(str(tmp_path / "stage1"))
    stage2 = make_trainer(tmp_path / "stage2", prompt_dataset, model=str(tmp_path / "stage1"))
    inputs = card_inputs(stage2)
    assert inputs["base_model_text"].startswith(
        "`stage1`, a local checkpoint trained with Entropy-Advantage GRPO from"
    )
    assert "`my-base`, a local checkpoint" in inputs["base_model_text"]


def test_reward_weights_and_local_dataset_names(tmp_path, prompt_dataset):
    def format_reward(completions, **kwargs):
        return [0.0 for _ in completions]

    trainer = make_trainer(tmp_path / "run", prompt_dataset, reward_funcs=[countdown_reward, format_reward],
                           reward_weights=[1.0, 0.1])  # fmt: skip
    inputs = card_inputs(trainer, dataset_name="trl-entropy/offline-math")
    card = str(render_model_card(inputs, [], [], None))
    assert "Reward functions: `countdown_reward` (weight 1), `format_reward` (weight 0.1)." in card
    assert "datasets" not in front_matter(card)  # generated locally: not a Hub dataset
    assert "`trl-entropy/offline-math` (generated locally by trl-entropy)" in card


def test_the_stage_detector_line_says_whether_the_method_uses_it(tmp_path, prompt_dataset):
    args = PositionShapingGRPOConfig(**cpu_grpo_kwargs(tmp_path / "run"), position_schedule="auto")
    trainer = PositionShapingGRPOTrainer(model=load_tiny_policy()[0], reward_funcs=countdown_reward, args=args,
                                         train_dataset=prompt_dataset, processing_class=load_tiny_policy()[1])  # fmt: skip
    card = str(render_model_card(card_inputs(trainer), [], [], None))
    assert "Stage detector (it starts the position bonus): no plateau declared." in card
    assert "| `stage_window` | 50 |" in card and "| `stage_patience` | 5 |" in card  # the detector's settings
    # a method without the detector has no stage line; with the analysis callback it is attached, to log the stage
    trainer = make_trainer(tmp_path / "run2", prompt_dataset)
    assert trainer.stage_detector is None
    assert "Stage detector" not in str(render_model_card(card_inputs(trainer), [], [], None))
    trainer = make_trainer(tmp_path / "run3", prompt_dataset, callbacks=[EntropyAnalysisCallback()])
    card = str(render_model_card(card_inputs(trainer), [], [], None))
    assert "Entropy-Advantage GRPO does not act on it): no plateau declared." in card


def test_ppo_card_is_written_after_the_critic(tmp_path, prompt_dataset):
    kwargs = cpu_grpo_kwargs(tmp_path / "run", per_device_train_batch_size=4, num_generations=1)
    trainer = PPOTrainer(model=load_tiny_policy()[0], reward_funcs=countdown_reward, args=PPOConfig(**kwargs),
                         train_dataset=prompt_dataset, processing_class=load_tiny_policy()[1])  # fmt: skip
    trainer.save_model(str(tmp_path / "final"))
    card = (tmp_path / "final" / "README.md").read_text()
    assert "`critic/model.safetensors`" in card
    assert f"weights fingerprint `{short_fingerprint(weights_fingerprint(tmp_path / 'final'))}`" in card
