# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""What `trl-entropy train` tells a user who got something wrong: one line, exit code 2, before any slow work."""

import json
import os
import subprocess
import sys

import pytest

from trl_entropy.methods import get_method
from trl_entropy.scripts import train
from trl_entropy.scripts.train import COMMON_TRL_KEYS, main, make_parser, parse_args


GRPO = "recipes/tiny/grpo.yaml"
EA = "recipes/tiny/entropy_advantage.yaml"


def run_main(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.err


def error_lines(err):
    return [line for line in err.splitlines() if line.startswith(("usage:", "trl-entropy train:"))]


def test_help_is_short_lists_config_and_imports_nothing_heavy():
    code = (
        "import sys\nfrom trl_entropy.cli import main\ntry:\n    main(['train', '--help'])\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "print('HEAVY' if {'torch', 'transformers'} & set(sys.modules) else 'LIGHT')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "LIGHT"
    assert len(lines) < 120
    out = result.stdout
    for expected in ("--config RECIPE.yaml", "--help-all", "--method paec --help-all", "--curriculum_order"):
        assert expected in out, expected
    for key in ("learning_rate", "max_completion_length", "output_dir", "resume_from_checkpoint"):
        assert f"--{key}" in out, key


def test_listed_keys_exist_and_constants_agree():
    from trl_entropy.sent.curriculum import CURRICULUM_ORDERS

    assert train.CURRICULUM_ORDERS == CURRICULUM_ORDERS
    known = set(make_parser("grpo").known_keys)
    assert set(COMMON_TRL_KEYS) <= known
    assert set(train._UNUSED_SCRIPT_KEYS) <= known


def test_help_all_names_the_methods_own_keys(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--method", "paec", "--help-all"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    own = out.splitlines()[0]
    assert own.startswith("method paec (PAECGRPOConfig): its own keys: paec_")
    assert "learning_rate" not in own
    assert "--learning_rate" in out and "--lora_r" in out


@pytest.mark.parametrize("where", ["command line", "recipe"])
def test_a_string_for_a_float_is_one_line(capsys, tmp_path, where):
    if where == "recipe":
        recipe = tmp_path / "bad.yaml"
        recipe.write_text(open(GRPO).read().replace("learning_rate: 5.0e-5", "learning_rate: abc"))
        assert "learning_rate: abc" in recipe.read_text()
        argv = ["--config", str(recipe)]
    else:
        argv = ["--config", GRPO, "--learning_rate", "abc"]
    code, err = run_main(capsys, *argv, "--output_dir", str(tmp_path / "out"))
    assert code == 2
    assert len(err.strip().splitlines()) == 2, err  # argparse printed the usage of every key: about 230 lines
    assert error_lines(err)[0].startswith("usage: trl-entropy train --config RECIPE.yaml")
    message = error_lines(err)[1]
    assert message.startswith("trl-entropy train: error: `learning_rate`: 'abc' is not a valid float (default: ")
    assert message.endswith(f"set in the recipe {recipe}" if where == "recipe" else "given as --learning_rate")


def test_a_misspelled_key_gets_the_closest_known_key(capsys, tmp_path):
    recipe = tmp_path / "typo.yaml"
    recipe.write_text(open(EA).read() + "learnin_rate: 1e-5\n")
    code, err = run_main(capsys, "--config", str(recipe))
    assert code == 2
    assert f"error: unknown key `learnin_rate` in the recipe {recipe} (did you mean `learning_rate`?)" in err
    assert "--method entropy_advantage --help-all" in err
    code, err = run_main(capsys, "--config", EA, "--entropy_advantage_alhpa", "0.1", "--paec_alpha", "1")
    assert code == 2
    assert "unknown flag --entropy_advantage_alhpa (did you mean --entropy_advantage_alpha?)" in err
    assert "unknown flag --paec_alpha (a key of method `paec`? this run's method is `entropy_advantage`)" in err


def test_invalid_value_is_exit_2_and_still_a_value_error(capsys, tmp_path):
    with pytest.raises(ValueError, match="`entropy_advantage_alpha` must be >= 0") as info:
        main(["--config", EA, "--output_dir", str(tmp_path), "--entropy_advantage_alpha", "-1"])
    assert isinstance(info.value, SystemExit) and info.value.code == 2
    assert capsys.readouterr().err.strip() == f"trl-entropy train: error: {info.value}"


def test_missing_local_model_path(capsys, tmp_path):
    code, err = run_main(capsys, "--config", GRPO, "--model_name_or_path", "./nope", "--output_dir", str(tmp_path))
    assert code == 2
    assert "error: `model_name_or_path`: the local path './nope' does not exist" in err
    assert "Repo id" not in err


def test_empty_training_sets_are_refused(capsys, tmp_path):
    import datasets

    out = tmp_path / "out"
    code, err = run_main(capsys, "--config", GRPO, "--task_train_size", "0", "--output_dir", str(out))
    assert code == 2 and "error: the training set is empty (`task_train_size` is 0)" in err
    saved = tmp_path / "empty"
    datasets.Dataset.from_dict({"prompt": []}).save_to_disk(str(saved))
    code, err = run_main(capsys, "--config", GRPO, "--dataset_name", str(saved), "--output_dir", str(out))
    assert code == 2 and f"error: the dataset saved in {saved} (`dataset_name`) has no rows" in err
    assert not out.exists()


def test_generation_limit_is_checked_before_the_curriculum(capsys, tmp_path, monkeypatch):
    def no_scoring(*args, **kwargs):
        raise AssertionError("the curriculum was scored before the limit was checked")

    monkeypatch.setattr(train, "build_curriculum", no_scoring)
    code, err = run_main(
        capsys, "--config", GRPO, "--max_completion_length", "100", "--output_dir", str(tmp_path / "out"),
        "--curriculum_order", "stages", "--shuffle_dataset", "false",
    )  # fmt: skip
    assert code == 2
    message = error_lines(err)[0]
    assert "plus --max_completion_length 100 needs" in message and "the model has 64" in message
    assert "pass --max_completion_length" in message


def _earlier_run(output_dir):
    (output_dir / "checkpoint-9").mkdir(parents=True)
    (output_dir / "model.safetensors").write_bytes(b"earlier weights")
    (output_dir / "eval" / "countdown").mkdir(parents=True)
    (output_dir / "eval" / "countdown" / "summary.json").write_text("{}")
    (output_dir / "task_eval.json").write_text(json.dumps({"pass_at_1_after": 0.5}))


def test_output_dir_with_an_earlier_run_is_warned_once(capsys, tmp_path):
    out = tmp_path / "out"
    _earlier_run(out)
    # The refused generation limit stops the run right after the warning, before any loading.
    code, err = run_main(capsys, "--config", GRPO, "--output_dir", str(out), "--max_completion_length", "100")
    assert code == 2
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, err
    for expected in ("model.safetensors", "checkpoint-9", "eval/countdown/summary.json", "task_eval.json"):
        assert expected in warnings[0], expected
    assert "overwrites" in warnings[0] and "another --output_dir" in warnings[0]
    assert f"--resume_from_checkpoint {out / 'checkpoint-9'}" in warnings[0]
    resume = ["--resume_from_checkpoint", str(out / "checkpoint-9")]
    code, err = run_main(capsys, "--config", GRPO, "--output_dir", str(out), "--max_completion_length", "100", *resume)
    assert code == 2 and "warning:" not in err


@pytest.mark.parametrize("saves", [True, False])
def test_ctrl_c_names_the_last_checkpoint_and_the_resume_command(capsys, tmp_path, monkeypatch, saves):
    out = tmp_path / "out"
    (out / "checkpoint-9").mkdir(parents=True)  # an earlier run's: never offered for resuming this one

    def interrupted(self, resume_from_checkpoint=None):
        if saves:
            for step in (2, 4):
                os.makedirs(os.path.join(self.args.output_dir, f"checkpoint-{step}"))
        self.state.global_step = 5
        raise KeyboardInterrupt

    monkeypatch.setattr(get_method("grpo").trainer_class, "train", interrupted)
    argv = ["--config", GRPO, "--output_dir", str(out), "--task_eval_problems", "0", "--max_steps", "10"]
    code, err = run_main(capsys, *argv)
    assert code == 130
    assert "Traceback" not in err
    message = err[err.index("trl-entropy train: interrupted") :]
    assert message.startswith("trl-entropy train: interrupted at step 5 of ")
    if saves:
        assert f"Last checkpoint: {out / 'checkpoint-4'}. Resume with:" in message
        assert message.rstrip().endswith(
            f"trl-entropy train --config {GRPO} --output_dir {out} --task_eval_problems 0 --max_steps 10 "
            f"--resume_from_checkpoint {out / 'checkpoint-4'}"
        )
    else:
        assert f"No checkpoint was saved in {out} (1 checkpoints there are from an earlier run)" in message


def test_user_error_from_the_command_has_no_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "trl_entropy.cli", "train", "--config", EA, "--entropy_advantage_alpha", "-1"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert error_lines(result.stderr) == [
        "trl-entropy train: error: `entropy_advantage_alpha` must be >= 0 (valid range: [0, inf)), got -1.0."
    ]
