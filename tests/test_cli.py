# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
import json

import pytest

from trl_entropy.cli import main
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
    assert (tmp_path / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "reward, entropy, entropy/advantage_psi_mean" in capsys.readouterr().out


def test_curve_skips_missing_and_nan_values(tmp_path):
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": HISTORY}))
    history = load_log_history(tmp_path)
    assert curve(history, "reward") == ([1, 2, 3], [0.2, 0.3, 0.5])
    assert curve(history, "entropy") == ([1, 2], [0.5, 0.4])
    assert curve(history, "entropy/advantage_psi_mean") == ([1], [0.1])


def test_plot_with_nothing_to_plot_is_an_error(tmp_path):
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": HISTORY}))
    with pytest.raises(ValueError, match="nothing to plot"):
        main(["plot", str(tmp_path), "--keys", "kl"])


def test_unknown_command_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err
