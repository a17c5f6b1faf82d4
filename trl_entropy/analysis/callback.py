# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`EntropyAnalysisCallback`: the cheap analysis quantities during training, from the loss forward that already runs."""

import json
import math
import os
from typing import Any

from transformers import TrainerCallback

from ..token_entropy import drop_records_after
from .batch import add_sums, analysis_metrics, analysis_profiles
from .feed import ANALYSIS_METRIC_PREFIX, AnalysisFeed  # noqa: F401  (ANALYSIS_METRIC_PREFIX: re-exported)
from .tokens import check_num_bins


ANALYSIS_FILENAME = "entropy_analysis.jsonl"


class EntropyAnalysisCallback(TrainerCallback):
    r"""
    Every `every_n_steps` optimizer steps (and at step 1), analyse the completions the policy is trained on, in the
    loss forward TRL already runs (no extra forward, no backward): the positional profile of the token entropy
    \\(H_t\\), of the gradient-norm proxy \\(G_t\\) and of the rollout branching factor, split by correct and
    incorrect completions, with the U-shape statistic; the share and mean entropy of each token role; the rate of each
    quality issue (see `trl_entropy.analysis` and `docs/analysis.md`).

    The means are logged under `analysis/` (at the next logging step) and each analysed step is appended to
    `entropy_analysis.jsonl` in the run directory with the sums, the profiles and the training stage, reduced over all
    micro-batches of the step and all processes. Attach it to any trl-entropy trainer; a plain `GRPOTrainer` does not
    call it.

    \\(G_t\\) needs the final hidden states and one pass over the LM head in tiles of positions (the PAEC statistics'
    tiling), only at analysed steps; completions are decoded on each process only at analysed steps. The cost at the
    default cadence is measured by `benchmarks/analysis_overhead.py` (see `docs/analysis.md`).

    Args:
        every_n_steps (`int`, *optional*, defaults to `10`):
            Analyse step 1 and every `every_n_steps`-th optimizer step.
        num_bins (`int`, *optional*, defaults to `10`):
            Relative-position bins of the profiles.
        top_p (`float`, *optional*, defaults to `0.95`):
            Nucleus mass of the branching factor.
        gradient_norm (`bool`, *optional*, defaults to `True`):
            Compute \\(G_t\\) and the branching factor (the LM-head pass); `False` keeps only what needs no projection.
        roles (`bool`, *optional*, defaults to `True`), quality (`bool`, *optional*, defaults to `True`):
            Classify token roles and flag quality issues (both decode the completions).
        require_boxed (`bool`, *optional*, defaults to `False`):
            Whether completions must answer in `\boxed{}` (the `missing_boxed` flag); set it for math tasks.
        role_lexicon ([`~trl_entropy.analysis.text.TokenRoleLexicon`], *optional*):
            Word lists of the role classifier.
        correct_reward (`float`, *optional*, defaults to `1.0`):
            A completion counts as correct when its reward (weighted over reward functions) is at least this.
        path (`str`, *optional*):
            The JSONL file; `<output_dir>/entropy_analysis.jsonl` by default.

    Example:

    ```python
    from trl_entropy import EntropyAnalysisCallback, PAECGRPOTrainer

    trainer = PAECGRPOTrainer(..., callbacks=[EntropyAnalysisCallback(every_n_steps=10)])
    ```
    """

    def __init__(
        self,
        every_n_steps: int = 10,
        num_bins: int = 10,
        top_p: float = 0.95,
        gradient_norm: bool = True,
        roles: bool = True,
        quality: bool = True,
        require_boxed: bool = False,
        role_lexicon: Any = None,
        correct_reward: float = 1.0,
        path: str | None = None,
    ):
        if not isinstance(every_n_steps, int) or isinstance(every_n_steps, bool) or every_n_steps < 1:
            raise ValueError(f"`every_n_steps` must be an integer >= 1, got {every_n_steps!r}.")
        check_num_bins(num_bins)
        if not 0 < top_p <= 1:
            raise ValueError(f"`top_p` must be in (0, 1], got {top_p!r}.")
        if not math.isfinite(correct_reward):
            raise ValueError(f"`correct_reward` must be a finite number, got {correct_reward!r}.")
        self.every_n_steps = every_n_steps
        self.num_bins = num_bins
        self.top_p = top_p
        self.gradient_norm = gradient_norm
        self.roles = roles
        self.quality = quality
        self.require_boxed = require_boxed
        self.role_lexicon = role_lexicon
        self.correct_reward = correct_reward
        self.path = path
        self.resolved_path: str | None = path
        self._step: int | None = None
        self._is_main = True
        self._sums: dict[str, list[float]] = {}
        self._stage: str | None = None
        self.records: list[dict[str, Any]] = []
        """The records written in this process's `train()` (main process only)."""

    def trainer_component(self, args: Any) -> AnalysisFeed:
        """The component that feeds this callback from the trainer's loss passes (added by the trainer)."""
        return AnalysisFeed(args, self)

    def wants_step(self, step: int) -> bool:
        """Whether optimizer step `step` (1-based) is analysed."""
        return step == 1 or step % self.every_n_steps == 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.resolved_path = self.path or os.path.join(args.output_dir, ANALYSIS_FILENAME)
        self._step, self._sums, self.records = None, {}, []
        self._is_main = state.is_world_process_zero
        if state.is_world_process_zero:
            drop_records_after(self.resolved_path, state.global_step)

    def add(self, step: int, sums: dict[str, tuple[float, float]], stage: str | None = None) -> None:
        """Add the (process-reduced) sums of one micro-batch of `step`. Called by the trainer."""
        if self._step is not None and step != self._step:
            self._write()
        self._step = step
        self._stage = stage
        add_sums(self._sums, sums)

    def accumulating(self, step: int) -> bool:
        """Whether sums of `step` have been added and not yet written."""
        return self._step == step and bool(self._sums)

    def step_metrics(self) -> dict[str, float]:
        """The metrics of the step being accumulated."""
        return analysis_metrics(self._sums, self.num_bins)

    def on_step_end(self, args, state, control, **kwargs):
        if self._step is not None and self._step <= state.global_step:
            self._write()

    def on_train_end(self, args, state, control, **kwargs):
        if self._step is not None:
            self._write()

    def _write(self) -> None:
        record = {
            "step": self._step,
            "stage": self._stage,
            "metrics": analysis_metrics(self._sums, self.num_bins),
            "profiles": analysis_profiles(self._sums, self.num_bins),
            "sums": {name: list(pair) for name, pair in sorted(self._sums.items())},
        }
        self._step, self._sums, self._stage = None, {}, None
        if not self._is_main:
            return
        if self.resolved_path is None:
            raise RuntimeError("`EntropyAnalysisCallback` received a batch before `on_train_begin` set its path.")
        os.makedirs(os.path.dirname(os.path.abspath(self.resolved_path)), exist_ok=True)
        with open(self.resolved_path, "a") as f:
            f.write(json.dumps(_finite(record), ensure_ascii=False) + "\n")
        self.records.append(record)


def _finite(value: Any) -> Any:
    """JSON has no NaN: empty means are written as `null`."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def load_analysis_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of an `entropy_analysis.jsonl` file (a run directory or the file itself)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, ANALYSIS_FILENAME)
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
