# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
import json
import math
import random
from types import SimpleNamespace

import pytest
from transformers import Trainer
from transformers.trainer_callback import CallbackHandler, DefaultFlowCallback, TrainerControl, TrainerState

from trl_entropy.plotting import plot_training_curves
from trl_entropy.stage_detector import StageDetector, main


BOUNDARY = 100  # last step of the rising stage of the synthetic run
REWARD_RATE = 0.006  # reward gained per step while rising
ENTROPY_RATE = 0.005  # entropy lost per step while rising
ENTROPY_PLATEAU_RATE = 0.0005  # entropy lost per step in the plateau: the decline slows, it does not stop

# Where a window of slopes first meets the plateau condition, past a sharp boundary, as a share of the span it covers.
#
# Fit a line over the last `window` observations, spanning T = (window - 1) * logging_interval steps, and let the
# boundary lie u steps before the newest one. A curve with slope `a` before the boundary and `b` after is
# `a * x - (a - b) * max(x - BOUNDARY, 0)`, so its fitted slope is `a - (a - b) * f`, f the fitted slope of the hinge
# `max(x - BOUNDARY, 0)`. With the window centred at 0, h = T / 2 and the boundary at z0 = w * h (w = 1 - 2u / T),
# the continuous least-squares slope of the hinge is
#     f(w) = ∫_{z0}^{h} z (z - z0) dz / ∫_{-h}^{h} z² dz = 1/2 - 3w/4 + w³/4.
# - reward (b = 0): slope <= ratio * a  <=>  f >= 1 - ratio = 0.75  <=>  w³ - 3w - 1 >= 0 (on [-1, 1]):
#   w <= -0.347, u >= 0.674 T;
# - entropy (b = a / 10): -slope <= ratio * a  <=>  f >= 0.75 / 0.9  <=>  w³ - 3w - 4/3 >= 0: w <= -0.482,
#   u >= 0.741 T. The entropy condition is the later one, so it sets the boundary estimate.
# With patience, the run that declares the plateau starts at the first observation meeting both conditions, so
# plateau_step is the first logged step at or after BOUNDARY + 0.741 T (the detector can only fire on a logged step,
# hence up to one logging interval later). The fit over discrete points differs from the continuous one by well under
# a step here. The peak rates are the rising rates themselves (windows entirely inside the rising stage fit them
# exactly), so the ratios above are relative to a and hold as written.
LAG = 0.741


def synthetic_run(logging_interval=2, noise=0.0, last_step=400, seed=0):
    """Observations of a run rising linearly until `BOUNDARY`, then flat reward and slowly declining entropy."""
    rng = random.Random(seed)
    run = []
    for step in range(logging_interval, last_step + 1, logging_interval):
        reward = 0.2 + REWARD_RATE * min(step, BOUNDARY) + noise * rng.gauss(0, 1)
        entropy = (
            1.0
            - ENTROPY_RATE * min(step, BOUNDARY)
            - ENTROPY_PLATEAU_RATE * max(step - BOUNDARY, 0)
            + noise * rng.gauss(0, 1)
        )
        run.append((step, reward, entropy))
    return run


def feed(detector, observations):
    return [detector.update(*obs) for obs in observations]


def as_log_history(observations):
    return [
        {"step": step, "reward": reward, "entropy": entropy, "loss": 0.0} for step, reward, entropy in observations
    ]


# --------------------------------------------------------------------------------------------------------------------
# The rule
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("window, logging_interval", [(20, 1), (20, 2), (10, 5), (30, 2)])
def test_sharp_boundary_is_found_where_the_window_lag_puts_it(window, logging_interval):
    detector = StageDetector(window=window)
    feed(detector, synthetic_run(logging_interval))
    expected = BOUNDARY + LAG * (window - 1) * logging_interval  # derivation above LAG
    assert expected <= detector.plateau_step <= expected + logging_interval
    assert detector.plateau_step % logging_interval == 0


def test_noisy_boundary_stays_within_a_logging_interval_of_the_noiseless_one():
    detector = StageDetector(window=20)
    feed(detector, synthetic_run(logging_interval=2, noise=0.005))
    expected = BOUNDARY + LAG * 19 * 2  # 128.2
    # Noise of 0.005 moves a 20-point slope by 0.005 * sqrt(12 / (20 * 399)) / 2 ≈ 1e-4 per step, while near the
    # crossing the fitted entropy slope changes by 0.0045 * 1.15 / 38 ≈ 1.4e-4 per step of lag: the crossing moves by
    # about 0.7 step (one standard error), so one logging interval (2 steps, ~3 standard errors) on either side of the
    # noiseless window [expected, expected + logging_interval] is enough.
    assert expected - 2 <= detector.plateau_step <= expected + 2 + 2


def test_steady_rise_never_declares_plateau():
    detector = StageDetector(window=20, min_steps=0)
    rising = [(step, 0.001 * step, 2.0 - 0.001 * step) for step in range(1, 1001)]
    stages = feed(detector, rising)
    assert set(stages) == {"rising"}
    assert detector.plateau_step is None and not detector.in_plateau
    assert detector.reward_slope == pytest.approx(0.001) and detector.entropy_slope == pytest.approx(-0.001)


def test_entropy_still_collapsing_keeps_the_rising_stage():
    # Reward flat from the start but entropy falling fast the whole time: only one of the two signals has settled.
    detector = StageDetector(window=20, min_steps=0)
    feed(detector, [(step, 0.5, 2.0 - 0.002 * step) for step in range(1, 501)])
    assert detector.stage == "rising"


def test_flat_curves_are_plateau_from_min_steps_after_patience_observations():
    # Nothing ever rises or falls: both peaks are 0, so the condition holds as soon as it may be checked.
    detector = StageDetector(window=20, patience=3, min_steps=50)
    stages = {step: detector.update(step, 0.5, 1.0) for step in range(1, 101)}
    assert detector.plateau_step == 50  # first observation at or after min_steps
    assert stages[51] == "rising" and stages[52] == "plateau"  # declared at the third consecutive observation
    assert detector.declared_step == 52


def test_observations_before_a_full_window_do_not_count():
    detector = StageDetector(window=20, patience=1, min_steps=0)
    stages = feed(detector, [(step, 0.5, 1.0) for step in range(1, 41)])
    assert detector.plateau_step == 20
    assert stages[18] == "rising" and stages[19] == "plateau"


def test_min_steps_delays_the_plateau():
    detector = StageDetector(window=20, min_steps=300)
    feed(detector, synthetic_run(logging_interval=2))
    assert detector.plateau_step == 300


def test_patience_ignores_a_short_flat_blip():
    # With window=2 the slope is the difference of two consecutive observations, so a blip controls it exactly: the
    # curves pause for `length` observations, then catch up and keep rising.
    def run(length):
        observations = []
        for step in range(1, 101):
            progress = step if not 60 <= step < 60 + length else 59
            observations.append((step, 0.01 * progress, 2.0 - 0.01 * progress))
        return observations

    for patience, length, expected in [(3, 1, None), (3, 2, None), (2, 2, 60), (1, 1, 60), (3, 3, 60)]:
        detector = StageDetector(window=2, patience=patience, min_steps=0)
        feed(detector, run(length))
        assert detector.plateau_step == expected, (patience, length)
        assert detector.declared_step == (None if expected is None else expected + patience - 1)


def test_plateau_is_never_left():
    detector = StageDetector(window=20)
    feed(detector, synthetic_run(logging_interval=2))
    boundary = detector.plateau_step
    # A second, steeper rise after the plateau was declared changes the slopes but not the stage.
    stages = feed(detector, [(step, 1.0 + 0.05 * (step - 400), 0.3) for step in range(402, 600, 2)])
    assert set(stages) == {"plateau"}
    assert detector.plateau_step == boundary and detector.in_plateau
    assert detector.reward_slope == pytest.approx(0.05)


def test_missing_and_non_finite_observations_are_skipped():
    clean = synthetic_run(logging_interval=2, noise=0.005)
    reference = StageDetector(window=20, patience=3)
    feed(reference, clean)
    detector = StageDetector(window=20, patience=3)
    bad_values = [None, math.nan, math.inf, -math.inf]
    for index, (step, reward, entropy) in enumerate(clean):
        # An unusable observation at the odd step before each good one, in turn without reward or entropy.
        bad = bad_values[index % len(bad_values)]
        assert detector.update(step - 1, *((bad, entropy) if index % 2 else (reward, bad))) == detector.stage
        detector.update(step, reward, entropy)
    assert detector.num_observations == len(clean)
    assert detector.state() == reference.state()
    # Skipped observations do not break the patience run: the plateau is declared 2 kept observations after its start.
    assert detector.declared_step == detector.plateau_step + 2 * 2


def test_observations_must_move_forward():
    detector = StageDetector()
    detector.update(10, 0.1, 1.0)
    with pytest.raises(ValueError, match=r"`step` must increase.*\(10, inf\).*got 10"):
        detector.update(10, 0.2, 0.9)
    with pytest.raises(ValueError, match=r"`step` must be an integer >= 0.*got -1"):
        detector.update(-1, 0.2, 0.9)
    with pytest.raises(ValueError, match=r"`step` must be an integer >= 0.*got 11.0"):
        detector.update(11.0, 0.2, 0.9)
    detector.update(11, None, 0.9)  # a skipped observation leaves the last step alone
    assert detector.history == [(10, 0.1, 1.0)]


@pytest.mark.parametrize(
    "field, value, valid",
    [
        ("window", 1, "[2, inf)"),
        ("window", 2.5, "[2, inf)"),
        ("window", True, "[2, inf)"),
        ("ratio", -0.1, "[0, 1)"),
        ("ratio", 1.0, "[0, 1)"),
        ("ratio", math.nan, "[0, 1)"),
        ("ratio", "0.25", "[0, 1)"),
        ("patience", 0, "[1, inf)"),
        ("min_steps", -1, "[0, inf)"),
        ("min_steps", 10.0, "[0, inf)"),
        ("reward_key", "", "non-empty str"),
        ("entropy_key", None, "non-empty str"),
    ],
)
def test_invalid_arguments_name_field_value_and_range(field, value, valid):
    with pytest.raises(ValueError) as error:
        StageDetector(**{field: value})
    message = str(error.value)
    assert f"`{field}`" in message and f"got {value!r}" in message and f"valid range: {valid}" in message


def test_boundary_values_are_accepted():
    StageDetector(window=2, ratio=0.0, patience=1, min_steps=0, reward_key="rewards/acc", entropy_key="ent")


# --------------------------------------------------------------------------------------------------------------------
# Saving and resuming
# --------------------------------------------------------------------------------------------------------------------


def resume_like_the_trainer(saved: StageDetector, in_trainer: StageDetector, tmp_path, restore: bool = True):
    """Save `saved` and resume into a trainer holding `in_trainer`, through transformers' own code.

    `TrainerState(stateful_callbacks=...)` (given the `ExportableState` callbacks, as the `Trainer` filters them) and
    `save_to_json` are what `Trainer._save_checkpoint` writes; `TrainerState.load_from_json` and
    `Trainer._load_callback_state` are what `Trainer.train(resume_from_checkpoint=...)` runs. `_load_callback_state`
    only needs `args`, `callback_handler`, `control` and `state` of the trainer, so it is called on a stand-in holding
    just those rather than on a full `Trainer`.
    """
    control = TrainerControl()
    path = tmp_path / "trainer_state.json"
    TrainerState(stateful_callbacks=[saved, control]).save_to_json(path)
    trainer = SimpleNamespace(
        args=SimpleNamespace(restore_callback_states_from_checkpoint=restore),
        callback_handler=CallbackHandler([DefaultFlowCallback(), in_trainer], None, None, None, None),
        control=control,
        state=TrainerState.load_from_json(path),
    )
    Trainer._load_callback_state(trainer)
    (detector,) = [cb for cb in trainer.callback_handler.callbacks if isinstance(cb, StageDetector)]
    return detector


@pytest.mark.parametrize(
    # Splits: before the first full window, before the boundary, inside the patience run (it starts at 128 and
    # declares the plateau at 132), and after the plateau was declared.
    "split, run_length, stage",
    [(10, 0, "rising"), (60, 0, "rising"), (130, 2, "rising"), (400, 3, "plateau")],
)
def test_resumed_detector_ends_exactly_like_an_uninterrupted_one(split, run_length, stage, tmp_path):
    run = synthetic_run(logging_interval=2, noise=0.005)
    uninterrupted = StageDetector(window=20, patience=3)
    feed(uninterrupted, run)
    before = StageDetector(window=20, patience=3)
    feed(before, [obs for obs in run if obs[0] <= split])
    assert (before.state()["attributes"]["_run_length"], before.stage) == (run_length, stage)

    # The trainer being resumed was built with other settings: the checkpoint's arguments win, as for every
    # transformers stateful callback.
    fresh = StageDetector(window=5)
    resumed = resume_like_the_trainer(before, fresh, tmp_path)
    # `_load_callback_state` swaps in a new instance: a reference to the detector taken before resuming is stale.
    assert resumed is not fresh and fresh.num_observations == 0
    assert resumed.state() == before.state()
    feed(resumed, [obs for obs in run if obs[0] > split])
    assert resumed.plateau_step == uninterrupted.plateau_step is not None
    assert resumed.state() == uninterrupted.state()


def test_trainer_keeps_its_own_detector_unless_callback_states_are_restored(tmp_path):
    before = StageDetector()
    feed(before, synthetic_run())
    fresh = StageDetector()
    assert resume_like_the_trainer(before, fresh, tmp_path, restore=False) is fresh
    assert fresh.num_observations == 0


def test_from_state_round_trips_through_json():
    detector = StageDetector(window=10, ratio=0.2, patience=2, min_steps=0, reward_key="r", entropy_key="e")
    feed(detector, synthetic_run(logging_interval=2, last_step=140))
    state = json.loads(json.dumps(detector.state()))
    restored = StageDetector.from_state(state)
    assert restored.state() == detector.state() == state
    assert (restored.stage, restored.plateau_step, restored.history) == (
        detector.stage,
        detector.plateau_step,
        detector.history,
    )
    # The exported state is a snapshot, not a view.
    detector.update(142, 1.0, 0.1)
    assert state["attributes"]["_history"][-1][0] == 140


def test_declaration_step_is_recorded_and_saved_and_old_states_still_resume():
    # Flat curves: the run starts at min_steps = 50 and the third observation of it, step 52, declares the plateau.
    detector = StageDetector(window=20, patience=3, min_steps=50)
    for step in range(1, 61):
        detector.update(step, 0.5, 1.0)
    state = json.loads(json.dumps(detector.state()))
    assert (state["attributes"]["_plateau_step"], state["attributes"]["_declared_step"]) == (50, 52)
    assert StageDetector.from_state(state).declared_step == 52
    # Before the declaration there is none to save.
    assert StageDetector(window=20).state()["attributes"]["_declared_step"] is None
    # A state saved before the declaration step was recorded: it is recovered from the kept observations, and the
    # resumed detector keeps it as it goes on.
    del state["attributes"]["_declared_step"]
    old = StageDetector.from_state(state)
    assert (old.plateau_step, old.declared_step) == (50, 52)
    old.update(61, 0.5, 1.0)
    assert old.declared_step == 52
    del state["attributes"]["_plateau_step"], state["attributes"]["_history"]
    assert StageDetector.from_state(state).declared_step is None


# --------------------------------------------------------------------------------------------------------------------
# Offline use
# --------------------------------------------------------------------------------------------------------------------


def test_detect_replays_log_history_and_skips_other_entries():
    run = synthetic_run(logging_interval=2, noise=0.005)
    online = StageDetector(window=20)
    feed(online, run)
    log_history = as_log_history(run)
    log_history.insert(30, {"step": 60, "eval_reward": 0.1, "eval_entropy": 0.2})  # evaluation entry
    log_history.insert(40, {"step": 80, "reward": 0.5})  # no entropy
    log_history.append({"step": 400, "train_runtime": 12.0, "train_loss": 0.0})  # summary entry
    detector = StageDetector.detect(log_history, window=20)
    assert detector.state() == online.state()

    renamed = [{"step": e["step"], "rewards/acc": e["reward"], "ent": e["entropy"]} for e in as_log_history(run)]
    assert (
        StageDetector.detect(renamed, window=20, reward_key="rewards/acc", entropy_key="ent").state()["attributes"]
        == online.state()["attributes"]
    )


def test_from_trainer_state_reads_a_file_or_a_run_directory(tmp_path):
    run = synthetic_run(logging_interval=2)
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": as_log_history(run)}))
    expected = StageDetector.detect(as_log_history(run), window=10).plateau_step
    assert expected is not None
    assert StageDetector.from_trainer_state(tmp_path, window=10).plateau_step == expected
    assert StageDetector.from_trainer_state(tmp_path / "trainer_state.json", window=10).plateau_step == expected


def test_cli_prints_json_and_plots_the_boundary(tmp_path, capsys):
    run = synthetic_run(logging_interval=2)
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": as_log_history(run)}))
    png = tmp_path / "curves.png"
    main([str(tmp_path), "--window", "20", "--min-steps", "50", "--plot", str(png)])
    result = json.loads(capsys.readouterr().out)
    assert result == {
        "plateau_step": StageDetector.detect(as_log_history(run), window=20).plateau_step,
        "num_observations": 200,
    }
    assert result["plateau_step"] is not None
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_reports_no_plateau_as_null_and_rejects_bad_arguments(tmp_path, capsys):
    rising = [{"step": step, "reward": 0.01 * step, "entropy": 1.0 - 0.001 * step} for step in range(1, 101)]
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": rising}))
    main([str(tmp_path)])
    assert json.loads(capsys.readouterr().out) == {"plateau_step": None, "num_observations": 100}
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path), "--window", "1"])
    assert exit_info.value.code == 2
    assert "`window` must be an integer >= 2" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------------------
# Plotting the boundary
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("boundary", [130, None])
def test_plot_draws_the_stage_boundary_on_every_panel(boundary, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: (figures.append(fig), close(fig)))
    log_history = as_log_history(synthetic_run(logging_interval=2))
    for entry in log_history:
        entry["entropy/stage"] = float(boundary is not None and entry["step"] >= boundary)
    png = tmp_path / "curves.png"
    plotted = plot_training_curves(log_history, png, stage_boundary=boundary)
    assert plotted == ["reward", "entropy", "entropy/stage"]
    assert png.read_bytes()[:4] == b"\x89PNG"

    (figure,) = figures
    for ax in figure.axes[: len(plotted)]:
        markers = [line for line in ax.get_lines() if line.get_label() == "plateau"]
        if boundary is None:
            assert markers == [] and ax.get_legend() is None
        else:
            (marker,) = markers
            assert list(marker.get_xdata()) == [boundary, boundary] and marker.get_linestyle() == "--"
            assert [text.get_text() for text in ax.get_legend().get_texts()] == ["plateau"]
