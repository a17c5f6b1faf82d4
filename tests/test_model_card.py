# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Model cards: one per checkpoint, Hub front matter, refreshing after an evaluation (`trl-entropy card`)."""

import json
import re
import shutil

import pytest
import yaml
from conftest import cpu_grpo_kwargs
from huggingface_hub import ModelCard, metadata_load
from huggingface_hub.repocard_data import model_index_to_eval_results

from trl_entropy import EntropyAdvantageGRPOConfig, EntropyAdvantageGRPOTrainer
from trl_entropy.cli import main
from trl_entropy.fingerprint import short_fingerprint, weights_fingerprint
from trl_entropy.model_card import (
    CARD_INPUTS_FILENAME,
    card_inputs,
    folder_weights,
    load_evaluations,
    refresh_model_card,
    render_model_card,
)
from trl_entropy.plotting import load_log_history
from trl_entropy.tasks import TINY_POLICY_PATH, countdown_reward, load_tiny_policy


PNG = b"\x89PNG\r\n\x1a\n"
MATH500 = {
    "benchmark": "math500",
    "model": "runs/ea",
    "num_problems": 500,
    "num_samples": 8,
    "metrics": {"acc@8": 0.41, "maj@8": 0.52, "pass@1": 0.41, "pass@2": 0.5, "pass@4": 0.58, "pass@8": 0.63},
    "decoding": {"temperature": 0.6, "top_p": 0.95, "max_new_tokens": 1024, "backend": "hf", "seed": 0},
    "verifier": "math-verify 0.9.0",
    "wall_time_s": 123.4,
    "date": "2026-11-24T02:00:00+00:00",
}
AIME24 = {**MATH500, "benchmark": "aime24", "num_problems": 30, "metrics": {"pass@1": 0.1, "pass@8": 0.3}}


def front_matter(text: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", text, flags=re.S)
    assert match, "the card has no YAML front matter"
    return yaml.safe_load(match.group(1))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, prompt_dataset):
    """A real 2-step run of the tiny policy that saves a checkpoint at every step, then `save_model()` into its
    `output_dir` (no final `save_state`)."""
    output_dir = tmp_path_factory.mktemp("ea-run")
    model, tokenizer = load_tiny_policy()
    args = EntropyAdvantageGRPOConfig(**cpu_grpo_kwargs(output_dir, save_strategy="steps", save_steps=1))
    trainer = EntropyAdvantageGRPOTrainer(
        model=model, reward_funcs=countdown_reward, args=args, train_dataset=prompt_dataset, processing_class=tokenizer
    )
    trainer.model_card_dataset_name = "my-org/countdown-prompts"
    trainer.train()
    # Before the final save, `output_dir` holds checkpoints but no weights of its own, so it must hold no card.
    files_before_final_save = sorted(path.name for path in output_dir.iterdir())
    trainer.save_model(str(output_dir))
    return {"dir": output_dir, "files_before_final_save": files_before_final_save}


@pytest.fixture(scope="module")
def run_dir(trained):
    return trained["dir"]


@pytest.mark.parametrize("step", [1, 2])
def test_every_checkpoint_has_its_card(run_dir, step):
    checkpoint = run_dir / f"checkpoint-{step}"
    card = (checkpoint / "README.md").read_text()
    inputs = json.loads((checkpoint / CARD_INPUTS_FILENAME).read_text())
    assert inputs["global_step"] == step and f"Trained for {step} optimizer steps." in card
    assert (checkpoint / "training_curves.png").read_bytes()[:8] == PNG
    assert (checkpoint / "method_curves.png").read_bytes()[:8] == PNG
    assert "![Training curves](training_curves.png)" in card and "![Method metrics](method_curves.png)" in card

    meta = front_matter(card)
    assert {"trl", "grpo", "trl-entropy", "entropy-advantage"} <= set(meta["tags"])
    assert meta["datasets"] == ["my-org/countdown-prompts"]
    assert "base_model" not in meta  # the tiny policy is a local folder, not a Hub id: named in the text only
    assert "tiny_countdown" in card
    assert "model-index" not in meta  # no evaluation yet
    assert meta["license"] == "apache-2.0"  # the tiny policy's (part of trl-entropy)
    assert meta["library_name"] == "transformers"
    # The card names the weights next to it, never the temporary folders they were trained in or loaded from.
    assert f"weights fingerprint `{short_fingerprint(weights_fingerprint(checkpoint))}`" in card
    assert str(run_dir) not in card and TINY_POLICY_PATH not in card
    # `max_steps` ended the run: the epoch count played no part.
    assert "num_train_epochs" not in card and "| `max_steps` | 2 |" in card
    assert "Stage detector" not in card  # the entropy advantage has none (position shaping brings it)

    for expected in [
        "| `entropy_advantage_alpha` | 0.4 |",
        "| `entropy_advantage_kappa` | 2 |",
        "| `num_generations` | 4 |",
        "| `world_size` | 1 |",
        "| `temperature` | 1 |",
        "| `max_completion_length` | 8 |",
        "| `backend` | transformers |",
        "Reward functions: `countdown_reward` (weight 1).",
        "Verifier: `trl_entropy.tasks.countdown`",
        "[Reasoning with Exploration: An Entropy Perspective](https://huggingface.co/papers/2506.14758)",
        "@article{cheng2025reasoning",
        "@article{shao2024deepseekmath",
        "math-verify ",
    ]:
        assert expected in card, expected


def test_the_inputs_file_rebuilds_the_checkpoint_card_exactly(run_dir):
    checkpoint = run_dir / "checkpoint-2"
    inputs = json.loads((checkpoint / CARD_INPUTS_FILENAME).read_text())
    card = render_model_card(
        inputs, load_log_history(checkpoint), [], "training_curves.png", method_curves_filename="method_curves.png",
        folder_weights=folder_weights(checkpoint),
    )  # fmt: skip
    assert str(card) == (checkpoint / "README.md").read_text()


def test_no_card_in_output_dir_while_its_weights_are_only_in_checkpoints(trained):
    # TRL's `_save_checkpoint` asks for a card in `output_dir` before each checkpoint's weights exist (and they go to
    # `checkpoint-<step>/`); that card would describe weights not next to it.
    assert trained["files_before_final_save"] == ["checkpoint-1", "checkpoint-2"]
    # `save_model` writes the card next to the weights it saved.
    card = (trained["dir"] / "README.md").read_text()
    assert "Trained for 2 optimizer steps." in card and "`model.safetensors`" in card


def test_hub_base_model_and_dataset_go_into_the_front_matter():
    inputs = {
        "model_name": "qwen-ea",
        "base_model": "Qwen/Qwen2.5-Math-1.5B",
        "base_model_text": "`Qwen/Qwen2.5-Math-1.5B`",
        "method": "Entropy-Advantage GRPO",
        "trainer_class": "EntropyAdvantageGRPOTrainer",
        "method_hyperparameters": {"entropy_advantage_alpha": 0.4},
        "training_hyperparameters": {"learning_rate": 1e-6},
        "dataset": {"name": "openai/gsm8k", "description": "`openai/gsm8k`"},
        "tags": ["trl", "trl-entropy"],
    }
    card = str(render_model_card(inputs, [], [], None))
    meta = front_matter(card)
    assert meta["base_model"] == "Qwen/Qwen2.5-Math-1.5B"
    assert meta["datasets"] == ["openai/gsm8k"]
    assert meta["tags"] == ["trl", "trl-entropy"]
    assert "Training data: `openai/gsm8k`." in card and "## Evaluation" not in card
    assert "![Training curves]" not in card


def test_card_command_adds_the_evaluation_table_and_model_index(run_dir, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    assert not (run / "trainer_state.json").exists()  # the log history comes from the newest checkpoint
    (run / "training_curves.png").unlink()
    fingerprint = weights_fingerprint(run)
    for summary in (MATH500, AIME24):
        (run / "eval" / summary["benchmark"]).mkdir(parents=True)
        summary = {**summary, "weights_fingerprint": fingerprint}
        (run / "eval" / summary["benchmark"] / "summary.json").write_text(json.dumps(summary))
    (run / "eval" / "broken").mkdir()
    (run / "eval" / "broken" / "summary.json").write_text("{not json")

    with pytest.warns(UserWarning, match="Skipping the evaluation summary .*broken"):
        main(["card", str(run), "--model-name", "ea-tiny"])
    assert "model card written to" in capsys.readouterr().out
    card = (run / "README.md").read_text()
    assert (run / "training_curves.png").read_bytes()[:8] == PNG  # re-plotted
    assert "Trained for 2 optimizer steps." in card and card.startswith("---\n")

    assert "## Evaluation" in card
    assert (
        "| benchmark | acc@8 | maj@8 | pass@1 | pass@2 | pass@4 | pass@8 | problems | samples | temperature | "
        "other decoding | verifier |"
    ) in card
    assert "| `aime24` | – | – | 0.1 | – | – | 0.3 | 30 | 8 | 0.6 |" in card
    assert (
        "| `math500` | 0.41 | 0.52 | 0.41 | 0.5 | 0.58 | 0.63 | 500 | 8 | 0.6 | top_p=0.95, "
        "max_new_tokens=1024, backend=hf, seed=0 | math-verify 0.9.0 |"
    ) in card
    assert "Left out of this card" not in card
    assert card.index("`aime24`") < card.index("`math500`")  # sorted by benchmark

    # The model-index is what the Hub reads: parse it back with huggingface_hub.
    meta = metadata_load(run / "README.md")
    assert meta == front_matter(card)
    name, results = model_index_to_eval_results(meta["model-index"])
    assert name == "ea-tiny"
    values = {(r.dataset_type, r.metric_type): r.metric_value for r in results}
    expected = {("math500", k): v for k, v in MATH500["metrics"].items()}
    expected |= {("aime24", k): v for k, v in AIME24["metrics"].items()}
    assert values == expected
    assert {r.task_type for r in results} == {"text-generation"}
    assert {r.dataset_name for r in results} == {"math500", "aime24"}
    math500_pass1 = next(r for r in results if (r.dataset_type, r.metric_type) == ("math500", "pass@1"))
    assert math500_pass1.metric_args["temperature"] == 0.6 and math500_pass1.metric_args["num_samples"] == 8
    assert math500_pass1.metric_args["num_problems"] == 500
    loaded = ModelCard.load(run / "README.md")
    assert loaded.data.model_name == "ea-tiny" and len(loaded.data.eval_results) == len(expected)

    # The method, its hyperparameters and its citation survive the refresh.
    for expected_text in ["| `entropy_advantage_alpha` | 0.4 |", "@article{cheng2025reasoning", "# ea-tiny"]:
        assert expected_text in card, expected_text


def test_legacy_task_eval_without_a_fingerprint_is_left_out(tmp_path):
    inputs = {"model_name": "run", "method": "GRPO (trl-entropy)", "trainer_class": "EntropyGRPOTrainer"}
    (tmp_path / CARD_INPUTS_FILENAME).write_text(json.dumps(inputs))
    (tmp_path / "task_eval.json").write_text(json.dumps({"pass_at_1_after": 0.25, "samples_per_problem": 4}))
    with pytest.warns(UserWarning, match="leaves out 1 evaluation"):
        refresh_model_card(tmp_path)
    card = (tmp_path / "README.md").read_text()
    assert "0.25" not in card and "- `task_eval.json`: this folder holds no weights to match" in card
    assert "**This folder holds no model weights.**" in card
    assert "model-index" not in front_matter(card)


def test_load_evaluations_sorts_and_skips_files_without_metrics(tmp_path):
    for name, summary in [("b", {**AIME24, "benchmark": "b"}), ("a", {**MATH500, "benchmark": "a"})]:
        (tmp_path / "eval" / name).mkdir(parents=True)
        (tmp_path / "eval" / name / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "eval" / "c").mkdir()
    (tmp_path / "eval" / "c" / "summary.json").write_text(json.dumps({"benchmark": "c"}))
    with pytest.warns(UserWarning, match="no `metrics` mapping"):
        evaluations = load_evaluations(tmp_path)
    assert [e["benchmark"] for e in evaluations] == ["a", "b"]
    assert load_evaluations(tmp_path / "missing") == []


def test_card_command_without_inputs_file_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": []}))
    with pytest.raises(SystemExit) as error:
        main(["card", str(tmp_path)])
    assert error.value.code == 2
    err = capsys.readouterr().err
    assert CARD_INPUTS_FILENAME in err and "written next to the model card by trl-entropy trainers" in err
    with pytest.raises(FileNotFoundError, match=CARD_INPUTS_FILENAME):
        refresh_model_card(tmp_path)
    assert not (tmp_path / "README.md").exists()


def test_a_converted_smollm2_checkpoint_names_its_hub_model(tmp_path, tiny_model, tokenizer, prompt_dataset):
    # A local directory is no `base_model`, except a conversion by `trl-entropy convert-smollm2` (marker file).
    checkpoint = tmp_path / "converted"
    tiny_model.save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)
    (checkpoint / "trl_entropy_conversion.json").write_text("{}")
    args = EntropyAdvantageGRPOConfig(**cpu_grpo_kwargs(tmp_path / "run"))
    trainer = EntropyAdvantageGRPOTrainer(model=str(checkpoint), reward_funcs=countdown_reward, args=args,
                                          train_dataset=prompt_dataset, processing_class=tokenizer)  # fmt: skip
    inputs = card_inputs(trainer)
    assert inputs["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert inputs["license"] == "apache-2.0"
    assert "`trl-entropy convert-smollm2`" in inputs["base_model_text"]
    assert str(tmp_path) not in inputs["base_model_text"]  # the conversion's local (cache) path is not shown
