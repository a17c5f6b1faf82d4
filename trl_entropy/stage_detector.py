# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Online and offline detection of the rising and plateau stages of RLVR training (Deng et al., arXiv 2508.02260)."""

import json
import math
import numbers
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState


RISING = "rising"
PLATEAU = "plateau"


def _least_squares_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Slope of the least-squares line through `(xs, ys)`; `xs` must hold at least two distinct values."""
    x_mean = math.fsum(xs) / len(xs)
    y_mean = math.fsum(ys) / len(ys)
    sxy = math.fsum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys, strict=True))
    sxx = math.fsum((x - x_mean) ** 2 for x in xs)
    return sxy / sxx


def _is_int(value: Any) -> bool:
    # `bool` is an `int` subclass, but `window=True` is a mistake, not a window of one.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _as_finite_float(value: Any) -> float | None:
    """`float(value)`, or `None` for a missing (`None`) or non-finite value: such observations are skipped."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class StageDetector(TrainerCallback, ExportableState):
    r"""
    Detects when RLVR training leaves its *rising* stage (fast reward gain, falling entropy) for its *plateau* stage
    (marginal reward gain, entropy decline slowing down), the two stages of [Decomposing the Entropy-Performance
    Exchange: The Missing Keys to Unlocking Effective Reinforcement Learning](https://huggingface.co/papers/2508.02260)
    (Deng et al., arXiv 2508.02260). Methods that must only act in the plateau read [`~StageDetector.in_plateau`].

    The rule. Observations `(step, reward, entropy)` arrive through [`~StageDetector.update`]: online from the trainer,
    offline one per `log_history` entry ([`~StageDetector.detect`]). Observations with a missing (`None`) or
    non-finite reward or entropy are skipped as if never made.

    1. Once at least `window` observations exist, the least-squares slopes *per optimizer step* of reward and of
       entropy over the last `window` observations are computed (`x` is the step, so the slopes do not depend on the
       logging interval; the window itself is counted in observations).
    2. The peak rising rates are tracked: `reward_peak` is the largest reward slope seen so far and `entropy_peak` the
       largest entropy decline rate (`-entropy slope`) seen so far.
    3. An observation *meets the plateau condition* when its step is `>= min_steps` and both rates have fallen to at
       most `ratio` times their peak: `reward_slope <= ratio * reward_peak` and `-entropy_slope <= ratio *
       entropy_peak`. A peak `<= 0` (reward never rose, or entropy never fell) leaves nothing to fall from, so its
       half of the condition counts as met.
    4. The plateau is declared at the `patience`-th consecutive observation meeting the condition. `plateau_step` is
       the step of the *first* observation of that run: the earliest step at which the condition held and kept
       holding, which is the best estimate of the boundary (the later observations only confirm it). `declared_step`
       is the step of the `patience`-th observation, the one that declared it: a method switched on online by the
       detector acts from the next optimizer step on. Observations before `window` observations exist or before
       `min_steps` never count towards the run.
    5. Once declared, the stage stays `"plateau"` for good: a method switched on at the boundary must not flicker off
       when a noisy window briefly looks steep again.

    Why relative to the peak: reward and entropy scales differ across tasks, models and reward functions, so no
    absolute slope threshold transfers; the run's own rising rate is the natural unit, and "the gain per step is now a
    small fraction of what it was" is what the paper's plateau is. Requiring *both* signals guards against a reward
    curve that pauses while entropy is still collapsing fast (still the rising stage) and vice versa. A
    least-squares slope over a window, rather than a difference of two points, averages the per-step noise of
    group-sampled rewards. The price is lag: with the defaults, a sharp boundary at step `B` is found at about
    `B + 0.7 * (window - 1) * interval`, `interval` being the steps between observations (see `docs/stage_detector.md`
    for the derivation).

    A stateful callback ([`~transformers.trainer_callback.ExportableState`]): a [`~transformers.Trainer`] that has it
    among its callbacks saves [`~StageDetector.state`] in `trainer_state.json` under `stateful_callbacks`, and
    restores it on resume (with `restore_callback_states_from_checkpoint=True`) by building a new instance from the
    saved `args` and setting the saved `attributes` on it. The callback has no `on_*` hooks: the trainer calls
    [`~StageDetector.update`] itself.

    Args:
        window (`int`, *optional*, defaults to `50`):
            Number of most recent observations the slopes are fitted over, `>= 2`. Larger is smoother but lags more.
        ratio (`float`, *optional*, defaults to `0.25`):
            Share of the peak rate below which a rate counts as having fallen, in `[0, 1)`.
        patience (`int`, *optional*, defaults to `5`):
            Consecutive observations that must meet the condition before the plateau is declared, `>= 1`.
        min_steps (`int`, *optional*, defaults to `50`):
            No observation before this optimizer step meets the condition, `>= 0`; also leaves time for the peak
            rates to be established.
        reward_key (`str`, *optional*, defaults to `"reward"`):
            Key of the reward in a `log_history` entry ([`~StageDetector.detect`]).
        entropy_key (`str`, *optional*, defaults to `"entropy"`):
            Key of the entropy in a `log_history` entry ([`~StageDetector.detect`]).

    Example:

    ```python
    detector = StageDetector(window=20, min_steps=50)
    for step, reward, entropy in observations:
        if detector.update(step, reward, entropy) == "plateau":
            ...  # the plateau-only method is on from here

    # Offline, on a finished run:
    StageDetector.from_trainer_state("runs/my_run").plateau_step
    ```
    """

    def __init__(
        self,
        window: int = 50,
        ratio: float = 0.25,
        patience: int = 5,
        min_steps: int = 50,
        reward_key: str = "reward",
        entropy_key: str = "entropy",
    ):
        if not _is_int(window) or window < 2:
            # Two points are the fewest a slope can be fitted through.
            raise ValueError(f"`window` must be an integer >= 2 (valid range: [2, inf)), got {window!r}.")
        if not isinstance(ratio, numbers.Real) or isinstance(ratio, bool) or not 0 <= ratio < 1:
            # At 1 the condition always holds (a slope never exceeds the peak), so the plateau would be declared at
            # `min_steps` whatever the curves; `not 0 <= ratio < 1` also rejects NaN.
            raise ValueError(f"`ratio` must be a number with 0 <= ratio < 1 (valid range: [0, 1)), got {ratio!r}.")
        if not _is_int(patience) or patience < 1:
            raise ValueError(f"`patience` must be an integer >= 1 (valid range: [1, inf)), got {patience!r}.")
        if not _is_int(min_steps) or min_steps < 0:
            raise ValueError(f"`min_steps` must be an integer >= 0 (valid range: [0, inf)), got {min_steps!r}.")
        for name, key in (("reward_key", reward_key), ("entropy_key", entropy_key)):
            if not isinstance(key, str) or not key:
                raise ValueError(f"`{name}` must be a non-empty string (valid range: non-empty str), got {key!r}.")
        self.window = int(window)
        self.ratio = float(ratio)
        self.patience = int(patience)
        self.min_steps = int(min_steps)
        self.reward_key = reward_key
        self.entropy_key = entropy_key
        # Everything below is the resumable state, exported by `state()`. Plain JSON types only (lists, not tuples),
        # so a state read back from `trainer_state.json` is identical to the one written.
        self._history: list[list] = []  # [step, reward, entropy] of every kept observation
        self._reward_slope: float | None = None  # slopes of the latest full window
        self._entropy_slope: float | None = None
        self._reward_peak: float | None = None  # max reward slope so far
        self._entropy_peak: float | None = None  # max of -entropy slope so far
        self._run_length = 0  # consecutive observations meeting the condition, up to the latest one
        self._run_start: int | None = None  # step of the first observation of that run
        self._plateau_step: int | None = None
        # Step of the observation that declared the plateau. Saved states written before it was recorded lack it: it
        # is then recovered from `_history` (see `declared_step`).
        self._declared_step: int | None = None

    # ------------------------------------------------------------------------------------------------------------
    # Online use
    # ------------------------------------------------------------------------------------------------------------

    def update(self, step: int, reward: float, entropy: float) -> str:
        r"""
        Record one observation and return the stage after it.

        Args:
            step (`int`):
                Optimizer step of the observation; must be larger than the step of the previous kept observation.
            reward (`float`):
                Mean reward at that step. `None` or a non-finite value skips the observation.
            entropy (`float`):
                Mean token entropy at that step. `None` or a non-finite value skips the observation.

        Returns:
            `str`: `"rising"` or `"plateau"`.
        """
        if not _is_int(step) or step < 0:
            raise ValueError(f"`step` must be an integer >= 0 (valid range: [0, inf)), got {step!r}.")
        step = int(step)
        reward, entropy = _as_finite_float(reward), _as_finite_float(entropy)
        if reward is None or entropy is None:
            return self.stage
        if self._history and step <= self._history[-1][0]:
            # Two observations at one step make the per-step slope meaningless; this is a bug in the caller.
            last = self._history[-1][0]
            raise ValueError(f"`step` must increase between observations (valid range: ({last}, inf)), got {step}.")
        self._history.append([step, reward, entropy])
        if len(self._history) < self.window:
            return self.stage

        recent = self._history[-self.window :]
        steps = [obs[0] for obs in recent]
        self._reward_slope = _least_squares_slope(steps, [obs[1] for obs in recent])
        self._entropy_slope = _least_squares_slope(steps, [obs[2] for obs in recent])
        decline = -self._entropy_slope
        self._reward_peak = (
            self._reward_slope if self._reward_peak is None else max(self._reward_peak, self._reward_slope)
        )
        self._entropy_peak = decline if self._entropy_peak is None else max(self._entropy_peak, decline)
        if self._plateau_step is not None:
            return self.stage

        reward_flat = self._reward_peak <= 0 or self._reward_slope <= self.ratio * self._reward_peak
        entropy_flat = self._entropy_peak <= 0 or decline <= self.ratio * self._entropy_peak
        if step >= self.min_steps and reward_flat and entropy_flat:
            if self._run_length == 0:
                self._run_start = step
            self._run_length += 1
            if self._run_length >= self.patience:
                self._plateau_step = self._run_start
                self._declared_step = step
        else:
            self._run_length, self._run_start = 0, None
        return self.stage

    @property
    def stage(self) -> str:
        """`"rising"` until the plateau is declared, `"plateau"` from then on."""
        return RISING if self._plateau_step is None else PLATEAU

    @property
    def in_plateau(self) -> bool:
        """Whether the plateau has been declared."""
        return self._plateau_step is not None

    @property
    def plateau_step(self) -> int | None:
        """Step of the first observation of the run that declared the plateau (the boundary), or `None`."""
        return self._plateau_step

    @property
    def declared_step(self) -> int | None:
        """
        Step of the observation at which the plateau was declared (the `patience`-th of the run starting at
        `plateau_step`), or `None`. The trainer observes a step once its loss passes are done, so a method switched on
        online acts from the next optimizer step, `declared_step + 1` in the log history's numbering, at the earliest.
        """
        if self._plateau_step is None:
            return None
        if self._declared_step is not None:
            return self._declared_step
        # A state saved before the declaration step was recorded: the kept observations from `plateau_step` on are
        # the run that declared it (skipped ones are never kept), so its `patience`-th one is the declaration.
        steps = [obs[0] for obs in self._history]
        if self._plateau_step not in steps:
            return self._plateau_step + self.patience - 1  # exact unless observations were skipped
        return steps[steps.index(self._plateau_step) + self.patience - 1]

    @property
    def num_observations(self) -> int:
        """Number of observations kept (skipped ones excluded)."""
        return len(self._history)

    @property
    def history(self) -> list[tuple[int, float, float]]:
        """The kept observations, `(step, reward, entropy)`, oldest first."""
        return [tuple(obs) for obs in self._history]

    @property
    def reward_slope(self) -> float | None:
        """Reward slope per step over the latest full window, or `None` before `window` observations exist."""
        return self._reward_slope

    @property
    def entropy_slope(self) -> float | None:
        """Entropy slope per step over the latest full window, or `None` before `window` observations exist."""
        return self._entropy_slope

    # ------------------------------------------------------------------------------------------------------------
    # Saving and resuming (transformers' ExportableState)
    # ------------------------------------------------------------------------------------------------------------

    def state(self) -> dict:
        r"""
        The detector as `trainer_state.json` stores it under `stateful_callbacks["StageDetector"]`.

        `args` are the constructor arguments and `attributes` the instance attributes to set on a new instance built
        from them, which is exactly what [`~transformers.trainer_callback.ExportableState.from_state`] and the
        `Trainer`'s `_load_callback_state` do on resume; the attributes hold everything the rule depends on, so a
        resumed detector continues exactly as if never interrupted.

        Returns:
            `dict`: `{"args": {...}, "attributes": {...}}`, made of JSON types only.
        """
        return {
            "args": {
                "window": self.window,
                "ratio": self.ratio,
                "patience": self.patience,
                "min_steps": self.min_steps,
                "reward_key": self.reward_key,
                "entropy_key": self.entropy_key,
            },
            "attributes": {
                # Copies, so a saved state does not change with later updates.
                "_history": [list(obs) for obs in self._history],
                "_reward_slope": self._reward_slope,
                "_entropy_slope": self._entropy_slope,
                "_reward_peak": self._reward_peak,
                "_entropy_peak": self._entropy_peak,
                "_run_length": self._run_length,
                "_run_start": self._run_start,
                "_plateau_step": self._plateau_step,
                "_declared_step": self._declared_step,
            },
        }

    # ------------------------------------------------------------------------------------------------------------
    # Offline use
    # ------------------------------------------------------------------------------------------------------------

    @classmethod
    def detect(cls, log_history: Iterable[Mapping[str, Any]], **kwargs) -> "StageDetector":
        r"""
        Replay a finished (or running) training's log history through a new detector.

        Args:
            log_history (`Iterable[Mapping[str, Any]]`):
                `trainer.state.log_history`, or the `log_history` of a `trainer_state.json`. Entries without `step`,
                the reward key or the entropy key (evaluation and summary entries) are skipped.
            **kwargs:
                Arguments of [`StageDetector`] (`window`, `ratio`, `patience`, `min_steps`, `reward_key`,
                `entropy_key`).

        Returns:
            [`StageDetector`]: The detector after the last entry; its `plateau_step` is the boundary, or `None`.
        """
        detector = cls(**kwargs)
        for entry in log_history:
            if "step" in entry and detector.reward_key in entry and detector.entropy_key in entry:
                detector.update(entry["step"], entry[detector.reward_key], entry[detector.entropy_key])
        return detector

    @classmethod
    def from_trainer_state(cls, path: str | os.PathLike, **kwargs) -> "StageDetector":
        r"""
        [`~StageDetector.detect`] on the `log_history` of a `trainer_state.json`.

        Args:
            path (`str` or `os.PathLike`):
                A `trainer_state.json` file, or a directory holding one (a run's `output_dir` or a checkpoint).
            **kwargs:
                Arguments of [`StageDetector`].

        Returns:
            [`StageDetector`]: The detector after the last logged entry.
        """
        from .plotting import load_log_history

        return cls.detect(load_log_history(path), **kwargs)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: `trl-entropy stages RUN_DIR [--window 20] ... [--plot PNG]`, or `python -m` this module."""
    from .cli_parsers import stages_parser  # a leaf module, so that `trl-entropy stages --help` does not import torch

    parser = stages_parser()
    args = parser.parse_args(argv)

    from .plotting import load_log_history, plot_training_curves

    log_history = load_log_history(args.run_dir)
    try:
        detector = StageDetector.detect(
            log_history,
            window=args.window,
            ratio=args.ratio,
            patience=args.patience,
            min_steps=args.min_steps,
            reward_key=args.reward_key,
            entropy_key=args.entropy_key,
        )
    except ValueError as error:
        parser.error(str(error))
    result = {"plateau_step": detector.plateau_step, "num_observations": detector.num_observations}
    sys.stdout.write(json.dumps(result) + "\n")
    if args.plot:
        plot_training_curves(log_history, args.plot, stage_boundary=detector.plateau_step)


__all__ = ["StageDetector", "main"]


if __name__ == "__main__":
    main()
