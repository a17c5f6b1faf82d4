# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
import json
import os
import subprocess
import sys

import pytest

import trl_entropy
from trl_entropy.cli import (
    BUILD_POLICY_DEFAULTS,
    build_policy_parser,
    choose_num_threads,
    convert_smollm2_parser,
    main,
    stages_parser,
)
from trl_entropy.plotting import curve, load_log_history


HISTORY = [
    {"step": 1, "reward": 0.2, "entropy": 0.5, "entropy/advantage_psi_mean": 0.1},
    {"step": 2, "reward": 0.3, "entropy": 0.4, "entropy/advantage_psi_mean": None},
    {"step": 3, "reward": 0.5, "entropy": float("nan")},
    {"step": 3, "train_runtime": 1.0},
]


def test_methods_lists_every_registered_method(capsys):
    main(["methods"])
    out = capsys.readouterr().out
    assert "entropy_advantage" in out and "EntropyAdvantageGRPOTrainer" in out
    assert "grpo" in out and "EntropyGRPOTrainer" in out


def test_plot_writes_png_of_the_logged_curves(tmp_path, capsys):
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": HISTORY}))
    main(["plot", str(tmp_path)])
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "reward, entropy, entropy/advantage_psi_mean" in capsys.readouterr().out


def test_curve_skips_missing_and_nan_values(tmp_path):
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": HISTORY}))
    history = load_log_history(tmp_path)
    assert curve(history, "reward") == ([1, 2, 3], [0.2, 0.3, 0.5])
    assert curve(history, "entropy") == ([1, 2], [0.5, 0.4])
    assert curve(history, "entropy/advantage_psi_mean") == ([1], [0.1])


def test_plot_of_a_key_never_logged_names_the_logged_keys_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": HISTORY}))
    with pytest.raises(SystemExit) as exit_info:
        main(["plot", str(tmp_path), "--keys", "kl", "reward"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Key 'kl' never logged by the run; logged keys: entropy, entropy/advantage_psi_mean, reward," in err
    assert not list(tmp_path.glob("*.png"))


def test_plot_leaves_the_model_card_figure_alone_unless_output_names_it(tmp_path, capsys):
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": HISTORY}))
    card_figure = tmp_path / "training_curves.png"
    card_figure.write_bytes(b"the figure the model card embeds")
    main(["plot", str(tmp_path), "--keys", "reward", "entropy/advantage_psi_mean", "--title", "psi"])
    assert card_figure.read_bytes() == b"the figure the model card embeds"
    keyed = tmp_path / "curves_reward_entropy-advantage_psi_mean.png"
    assert keyed.read_bytes()[:4] == b"\x89PNG"
    assert f"to {keyed}" in capsys.readouterr().out
    main(["plot", str(tmp_path / "trainer_state.json")])  # a state file: next to it
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert card_figure.read_bytes() == b"the figure the model card embeds"
    main(["plot", str(tmp_path), "--output", str(card_figure)])  # asked for explicitly
    assert card_figure.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plot", "{tmp}/missing"], "Run directory or trainer_state.json '{tmp}/missing' does not exist."),
        (["plot", "{tmp}", "{tmp}/missing"], "'{tmp}/missing' does not exist."),
        (["plot", "{tmp}/empty"], "No trainer_state.json in '{tmp}/empty'"),
        (["plot", "{tmp}/broken"], "Cannot read the log history of '{tmp}/broken'"),
        (["stages", "{tmp}/missing"], "Run directory or trainer_state.json '{tmp}/missing' does not exist."),
        (["stages", "{tmp}/empty"], "No trainer_state.json in '{tmp}/empty'"),
        (["token-html", "{tmp}/missing.jsonl"], "Records file '{tmp}/missing.jsonl' does not exist"),
        (["token-html", "{tmp}/empty"], "'{tmp}/empty' is a directory"),
        (["token-html", "{tmp}/broken/trainer_state.json"], "is not a JSONL file of token-entropy records"),
        (["card", "{tmp}/missing"], "Output directory '{tmp}/missing' does not exist."),
    ],
)
def test_missing_or_unreadable_inputs_are_clean_errors(tmp_path, capsys, argv, message):
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": HISTORY}))
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "trainer_state.json").write_text("{not json")
    with pytest.raises(SystemExit) as exit_info:
        main([arg.format(tmp=tmp_path) for arg in argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message.format(tmp=tmp_path) in err and "Traceback" not in err
    assert not list(tmp_path.rglob("*.png")) and not list(tmp_path.rglob("*.html"))


def run_python(code, env=None):
    """Run `code` in a fresh interpreter (the test process has torch imported already); returns stdout, stderr."""
    environ = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    result = subprocess.run(
        [sys.executable, "-c", code], env={**environ, **(env or {})}, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout, result.stderr


HEAVY = ("torch", "transformers", "trl", "peft", "bitsandbytes", "matplotlib")


def test_import_and_help_do_not_import_torch_transformers_or_trl():
    code = f"""
import contextlib, io, sys
import trl_entropy
heavy = {HEAVY!r}
print("import", [name for name in heavy if name in sys.modules])
from trl_entropy.cli import main
for argv in (["--help"], ["--version"], ["methods"], ["plot", "--help"], ["card", "--help"], ["stages", "--help"],
             ["build-policy", "--help"], ["token-html", "--help"], ["convert-smollm2", "--help"], ["analyze", "--help"],
             ["build-policy", "--steps", "x"], ["stages"]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            main(argv)
        except SystemExit:
            pass
    print(" ".join(argv), [name for name in heavy if name in sys.modules])
"""
    out, _ = run_python(code)
    lines = out.strip().splitlines()
    assert len(lines) == 13
    for line in lines:
        assert line.endswith(" []"), line


def test_every_exported_name_resolves():
    assert trl_entropy.__version__
    for name in trl_entropy.__all__:
        assert getattr(trl_entropy, name) is not None, name
    assert set(trl_entropy.__all__) <= set(dir(trl_entropy))
    from trl_entropy import EntropyAdvantageGRPOTrainer, functional
    from trl_entropy.entropy_advantage import EntropyAdvantageGRPOTrainer as direct

    assert EntropyAdvantageGRPOTrainer is direct and functional.entropy_advantage is not None
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchTrainer'"):
        trl_entropy.NoSuchTrainer  # noqa: B018


def test_version_and_program_names(capsys):
    main(["--version"])
    assert capsys.readouterr().out.startswith(f"trl-entropy {trl_entropy.__version__} (trl ")
    assert stages_parser().prog == "trl-entropy stages"
    assert build_policy_parser().prog == "trl-entropy build-policy"
    for argv, prog in ((["stages", "--help"], "stages"), (["build-policy", "--help"], "build-policy")):
        with pytest.raises(SystemExit):
            main(argv)
        assert capsys.readouterr().out.startswith(f"usage: trl-entropy {prog} ")


def test_light_parsers_match_their_modules():
    from trl_entropy.models.smollm2 import _DTYPES
    from trl_entropy.tasks import build_policy

    assert BUILD_POLICY_DEFAULTS["countdown"] == {
        "steps": build_policy.DEFAULT_STEPS,
        "batch_size": build_policy.DEFAULT_BATCH_SIZE,
        "lr": build_policy.DEFAULT_LR,
    }
    assert set(BUILD_POLICY_DEFAULTS) == set(build_policy.TASKS)
    for name, defaults in BUILD_POLICY_DEFAULTS.items():
        task = build_policy.policy_task(name)
        assert defaults == {"steps": task.steps, "batch_size": task.batch_size, "lr": task.lr}, name
    # Unset options fall back to the task's defaults and its shipped policy directory.
    parser = build_policy_parser()
    assert parser.get_default("task") == "countdown" and parser.get_default("output_dir") is None
    assert build_policy.policy_task("countdown").output_dir == build_policy.TINY_POLICY_PATH
    assert "600 for countdown" in " ".join(parser.format_help().split())
    dtype = next(action for action in convert_smollm2_parser()._actions if action.dest == "dtype")
    assert sorted(dtype.choices) == sorted(_DTYPES)


def test_parsers_live_in_a_leaf_module():
    # The commands' modules import their parser from `cli_parsers`, which imports no other trl-entropy module (so no
    # import cycle through `cli`); `cli` exports the same functions.
    import trl_entropy.cli as cli
    import trl_entropy.cli_parsers as cli_parsers

    for name in ("stages_parser", "build_policy_parser", "convert_smollm2_parser", "BUILD_POLICY_DEFAULTS"):
        assert getattr(cli, name) is getattr(cli_parsers, name), name
    out, _ = run_python(
        "import sys\nimport trl_entropy.cli_parsers\n"
        "print(sorted(name for name in sys.modules if name.startswith('trl_entropy')))"
    )
    assert out.split() == ["['trl_entropy',", "'trl_entropy.cli_parsers']"]


@pytest.mark.parametrize(
    ("environ", "cpu_count", "default", "threads", "reason"),
    [
        ({}, 2, 1, 1, "OMP_NUM_THREADS unset; set it to override"),
        ({}, None, 1, 1, "OMP_NUM_THREADS unset"),
        ({"OMP_NUM_THREADS": "6"}, 2, 1, 6, "OMP_NUM_THREADS=6 from the environment, kept"),
        ({"OMP_NUM_THREADS": "6", "LOCAL_WORLD_SIZE": "4"}, 2, 1, 6, "kept"),
        ({"OMP_NUM_THREADS": "auto"}, 2, 1, None, "OMP_NUM_THREADS=auto from the environment, kept"),
        ({"OMP_NUM_THREADS": " "}, 2, 1, 1, "OMP_NUM_THREADS unset"),
        ({}, 16, 8, 8, "OMP_NUM_THREADS unset"),
        ({"LOCAL_WORLD_SIZE": "4"}, 16, 8, 4, "4 processes on 16 cores"),
        ({"LOCAL_WORLD_SIZE": "4", "WORLD_SIZE": "16"}, 16, 8, 4, "4 processes"),
        ({"WORLD_SIZE": "2"}, 16, 8, 8, "2 processes on 16 cores"),
        ({"LOCAL_WORLD_SIZE": "4"}, 2, 8, 1, "4 processes on 2 cores"),
        ({"LOCAL_WORLD_SIZE": "junk"}, 16, 8, 8, "OMP_NUM_THREADS unset; set it"),
    ],
)
def test_choose_num_threads(environ, cpu_count, default, threads, reason):
    chosen, why = choose_num_threads(environ, cpu_count, default=default)
    assert chosen == threads and reason in why


def test_train_threads_are_set_before_torch_and_a_user_setting_is_kept():
    # The order of the CLI and of recipes/train.py: choose the threads, then import torch.
    code = """
from trl_entropy.cli import configure_threads
threads = configure_threads()
import os, torch
print(threads, os.environ["OMP_NUM_THREADS"], torch.get_num_threads())
"""
    out, err = run_python(code)
    assert out.split() == ["1", "1", "1"]
    assert err.strip().endswith("threads: 1 (OMP_NUM_THREADS unset; set it to override)")
    out, err = run_python(code, env={"OMP_NUM_THREADS": "2"})
    assert out.split() == ["2", "2", "2"]
    assert "threads: 2 (OMP_NUM_THREADS=2 from the environment, kept)" in err
    out, err = run_python(code, env={"LOCAL_RANK": "1"})
    assert out.split() == ["1", "1", "1"] and "threads:" not in err  # one line per machine, not per process


def test_unknown_command_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err
