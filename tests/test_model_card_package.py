# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The split of `trl_entropy.model_card`: rendering needs only the saved files of a run, and the package imports no
trainer module or method package (the method describes itself through `card_method_info`)."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import trl_entropy
import trl_entropy.model_card as model_card
from trl_entropy.fingerprint import short_fingerprint, weights_fingerprint
from trl_entropy.model_card import (
    CARD_FILENAME,
    CARD_INPUTS_FILENAME,
    folder_weights,
    load_card_inputs,
    refresh_model_card,
    render_model_card,
    saved_curves,
    select_analysis,
    select_evaluations,
)


PACKAGE_DIR = Path(model_card.__file__).parent
ROOT = Path(trl_entropy.__file__).parent
# The trainer modules and the method packages (every package with a `trainer.py`), and what only they need.
FORBIDDEN = sorted(
    {f"trl_entropy.{path.parent.name}" for path in ROOT.glob("*/trainer.py")}
    | {f"trl_entropy.{name}" for name in ("entropy_grpo_trainer", "composition", "methods", "shaper", "hook")}
)

# Written by hand: no trainer was ever built for this folder.
INPUTS = {
    "format_version": 1,
    "model_name": "saved-run",
    "base_model": "Qwen/Qwen2.5-Math-1.5B",
    "base_model_text": "`Qwen/Qwen2.5-Math-1.5B`",
    "license": "apache-2.0",
    "method": "Position-Shaping GRPO",
    "trainer_class": "PositionShapingGRPOTrainer",
    "base_trainer_class": "GRPOTrainer",
    "algorithm": "GRPO",
    "papers": [{"title": "A Paper", "id": "2508.02260", "citation": "@article{a2025paper,\n  title={A Paper}\n}"}],
    "base_paper": None,
    "method_hyperparameters": {"position_bonus": 0.1},
    "training_hyperparameters": {"learning_rate": 1e-6, "max_steps": 5, "world_size": 1},
    "decoding": {"temperature": 1.0, "backend": "transformers"},
    "peft": {},
    "reward_functions": ["accuracy_reward"],
    "reward_weights": [1.0],
    "verifier": "math-verify 0.9.0",
    "dataset": {"name": "openai/gsm8k", "description": "`openai/gsm8k`"},
    "tags": ["trl", "trl-entropy"],
    "global_step": 3,  # saved at step 3; trainer_state.json says 5
    "plateau_step": None,
    "stage_detector": "used",
    "framework_versions": {"trl-entropy": "0.1.0.dev0"},
}
LOG_HISTORY = [{"step": 1, "reward": 0.25, "entropy": 0.9}, {"step": 5, "reward": 0.75, "entropy": 0.5}]
MATH500 = {
    "benchmark": "math500",
    "num_problems": 500,
    "num_samples": 4,
    "metrics": {"pass@1": 0.41},
    "decoding": {"temperature": 0.6},
    "verifier": "math-verify 0.9.0",
}


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


@pytest.fixture
def saved_run(tmp_path):
    """A folder as a trl-entropy run leaves it: weights, the card inputs, the trainer state (with the stage
    detector's plateau), an evaluation of these weights and one of other weights."""
    (tmp_path / "model.safetensors").write_bytes(b"these weights")
    (tmp_path / CARD_INPUTS_FILENAME).write_text(json.dumps(INPUTS))
    state = {
        "global_step": 5,
        "log_history": LOG_HISTORY,
        "stateful_callbacks": {"StageDetector": {"attributes": {"_plateau_step": 4}}},
    }
    (tmp_path / "trainer_state.json").write_text(json.dumps(state))
    fingerprint = weights_fingerprint(tmp_path)
    for benchmark, weights in (("math500", fingerprint), ("aime24", "sha256:" + "0" * 64)):
        (tmp_path / "eval" / benchmark).mkdir(parents=True)
        summary = {**MATH500, "benchmark": benchmark, "weights_fingerprint": weights}
        (tmp_path / "eval" / benchmark / "summary.json").write_text(json.dumps(summary))
    return tmp_path


def test_render_from_the_saved_files_alone(saved_run):
    inputs, log_history = load_card_inputs(saved_run, model_name="renamed")
    # The saved inputs, brought up to date by trainer_state.json.
    assert inputs["global_step"] == 5 and inputs["plateau_step"] == 4 and inputs["model_name"] == "renamed"
    assert log_history == LOG_HISTORY
    evaluations, task_eval, left_out = select_evaluations(saved_run)
    assert [summary["benchmark"] for summary in evaluations] == ["math500"] and task_eval is None
    assert [entry["name"] for entry in left_out] == ["eval/aime24/summary.json"]

    card = str(
        render_model_card(
            inputs, log_history, evaluations, None, folder_weights=folder_weights(saved_run), left_out=left_out
        )
    )
    assert card.startswith("---\n") and "# renamed" in card
    assert "with **Position-Shaping GRPO** (`PositionShapingGRPOTrainer`" in card
    assert "| `position_bonus` | 0.1 |" in card and "| `learning_rate` | 1e-06 |" in card
    assert "Trained for 5 optimizer steps." in card and "| `reward` | 0.75 |" in card
    assert "Stage detector (it starts the position bonus): plateau from step 4" in card
    assert f"`{short_fingerprint(weights_fingerprint(saved_run))}`" in card
    assert "| `math500` | 0.41 | 500 | 4 | 0.6 |" in card
    assert "- `eval/aime24/summary.json`: it is of other weights" in card
    assert "@article{a2025paper" in card
    meta = front_matter(card)
    assert meta["base_model"] == "Qwen/Qwen2.5-Math-1.5B" and meta["datasets"] == ["openai/gsm8k"]
    metric = meta["model-index"][0]["results"][0]["metrics"][0]
    assert metric["type"] == "pass@1" and metric["value"] == 0.41 and metric["args"]["num_samples"] == 4


def test_refresh_is_the_render_of_the_saved_files(saved_run):
    # `trl-entropy card` puts the same pieces together: its README is the rendering of the folder's files.
    with pytest.warns(UserWarning, match="leaves out 1 evaluation"):
        path = refresh_model_card(saved_run)
    assert path == os.path.join(saved_run, CARD_FILENAME)
    inputs, log_history = load_card_inputs(saved_run)
    evaluations, task_eval, left_out = select_evaluations(saved_run)
    analysis, analysis_left_out = select_analysis(saved_run)
    curves = saved_curves(saved_run)
    expected = render_model_card(
        inputs, log_history, evaluations, curves[0], method_curves_filename=curves[1], task_eval=task_eval,
        folder_weights=folder_weights(saved_run), left_out=left_out + analysis_left_out, analysis=analysis,
    )  # fmt: skip
    assert Path(path).read_text() == str(expected)
    # The saved inputs are rewritten with the state's step and plateau.
    assert json.loads((saved_run / CARD_INPUTS_FILENAME).read_text())["plateau_step"] == 4


def test_no_inputs_file_is_an_error_that_says_what_to_point_to(tmp_path):
    with pytest.raises(FileNotFoundError, match="Point to the output directory of a trl-entropy run"):
        load_card_inputs(tmp_path)


def test_the_package_imports_no_trainer_module(saved_run):
    # A fresh interpreter where importing a trainer module or a method package fails: the package imports, and
    # refreshes a saved card, without any of them.
    code = f"""
import sys
forbidden = {FORBIDDEN!r}
for name in forbidden:
    sys.modules[name] = None  # `import name` now raises ImportError
import trl_entropy.model_card
trl_entropy.model_card.refresh_model_card(sys.argv[1])
loaded = sorted(name for name in sys.modules if name.startswith("trl_entropy") and sys.modules[name] is not None)
print(" ".join(loaded))
"""
    environ = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    result = subprocess.run(
        [sys.executable, "-c", code, str(saved_run)],
        env={**environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split()
    assert {"trl_entropy.model_card.inputs", "trl_entropy.model_card.render", "trl_entropy.model_card.curves"} <= set(
        loaded
    )
    assert not [name for name in loaded if any(_within(name, f) for f in FORBIDDEN)], loaded


def test_no_module_of_the_package_imports_a_trainer_even_lazily():
    # Imports inside functions count too (they would come back as import cycles); only `if TYPE_CHECKING:` is free.
    assert "trl_entropy.entropy_grpo_trainer" in FORBIDDEN and "trl_entropy.ppo" in FORBIDDEN
    found = []
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        package = "trl_entropy.model_card"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.rsplit(".", node.level - 1)[0] if node.level else ""
                names = [".".join(filter(None, (base, node.module, alias.name))) for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found += [(path.name, name) for name in names if any(_within(name, f) for f in FORBIDDEN)]
    assert found == []


def test_every_name_of_the_former_module_is_still_importable():
    for name in (
        "CARD_INPUTS_FILENAME", "CURVES_FILENAME", "METHOD_CURVES_FILENAME", "TASK_EVAL_FILENAME", "KEY_GRPO_FIELDS",
        "SMOLLM2_HUB_ID", "TINY_POLICY_LICENSE", "_eval_results", *model_card.__all__,
    ):  # fmt: skip
        assert getattr(model_card, name) is not None, name
    assert model_card.render_model_card.__module__ == "trl_entropy.model_card.render"
    assert model_card.card_inputs.__module__ == "trl_entropy.model_card.inputs"
    assert model_card.write_curves.__module__ == "trl_entropy.model_card.curves"
