# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`SemanticEntropyCurriculum`: a prompt dataset ordered from low to high semantic entropy (SENT, arXiv 2512.04359).

The order is the dataset's own row order, so it survives TRL's `RepeatSampler` exactly when the sampler does not
shuffle (`shuffle_dataset=False`): the sampler then walks the rows in order, repeating each prompt
`num_generations` times and each generation batch `num_iterations * steps_per_generation` times, and under several
processes it hands each process a contiguous slice of every batch. TRL's within-batch shuffle
(`shuffle_sequence_dict`) only permutes the completions of one generation batch, never across batches.
"""

import math
import random
from collections.abc import Sequence
from typing import Any

import torch
from datasets import Dataset

from ..hook.component import DATA_ORDER, Component


CURRICULUM_ORDERS = ("ascending", "stages")
SCORE_COLUMN = "semantic_entropy"
STAGE_COLUMN = "curriculum_stage"
SOURCE_INDEX_COLUMN = "curriculum_source_index"


def _check(name: str, value: Any, valid: bool, valid_range: str) -> None:
    if not valid:
        raise ValueError(f"`{name}` must be {valid_range}, got {value!r}.")


def curriculum_order(
    scores: Sequence[float], order: str = "ascending", num_stages: int = 2, seed: int = 0
) -> tuple[list[int], list[int]]:
    """
    The curriculum order of rows with these semantic entropies, and the stage of each row in that order.

    Rows are ranked by score, ascending, ties in dataset order, `NaN` (no score: no sample had an answer under the
    `"ignore"` policy) last. The ranking is cut into `num_stages` contiguous stages of equal size (the first stages
    one row larger when the sizes do not divide). `"ascending"` keeps the ranking (strict order); `"stages"` shuffles
    the rows inside each stage with `seed` and keeps the stages in order.

    Args:
        scores (`Sequence[float]`):
            Semantic entropy of each row.
        order (`str`, *optional*, defaults to `"ascending"`):
            `"ascending"` or `"stages"`.
        num_stages (`int`, *optional*, defaults to `2`):
            Number of stages, `>= 1` (the authors trained 2: the low-entropy half, then the high-entropy half).
        seed (`int`, *optional*, defaults to `0`):
            Seed of the within-stage shuffle.

    Returns:
        `tuple[list[int], list[int]]`: Row indices in curriculum order, and the 1-based stage of each of them.
    """
    _check("order", order, order in CURRICULUM_ORDERS, f"one of {CURRICULUM_ORDERS}")
    _check("num_stages", num_stages, isinstance(num_stages, int) and num_stages >= 1, "an integer >= 1")
    scores = [float(score) for score in scores]
    ranking = sorted(
        range(len(scores)), key=lambda i: (math.isnan(scores[i]), 0.0 if math.isnan(scores[i]) else scores[i])
    )
    size, extra = divmod(len(ranking), num_stages)
    indices, stages, start = [], [], 0
    rng = random.Random(seed)
    for stage in range(num_stages):
        stop = start + size + (1 if stage < extra else 0)
        members = ranking[start:stop]
        if order == "stages":
            rng.shuffle(members)
        indices.extend(members)
        stages.extend([stage + 1] * len(members))
        start = stop
    return indices, stages


class SemanticEntropyCurriculum(Dataset):
    r"""
    A prompt dataset in SENT's curriculum order, low semantic entropy first
    ([arXiv 2512.04359](https://huggingface.co/papers/2512.04359)).

    A [`datasets.Dataset`] (pass it as `train_dataset` to any TRL trainer, [`~trl.GRPOTrainer`] included) holding the
    rows of `dataset` reordered, with three columns added: `semantic_entropy` (the score), `curriculum_stage` (1-based)
    and `curriculum_source_index` (the row's index in `dataset`). TRL keeps the order only with
    `shuffle_dataset=False`; every trl-entropy trainer refuses a curriculum with `shuffle_dataset=True`, and plain
    [`~trl.GRPOTrainer`] users call [`~SemanticEntropyCurriculum.check_training_args`] (or set the flag).

    With several epochs the same order is replayed in every epoch.

    Args:
        dataset ([`datasets.Dataset`]):
            Prompt dataset (any columns TRL accepts).
        scores (`Sequence[float]`, *optional*):
            Semantic entropy of each row of `dataset`; when `None`, read from its `semantic_entropy` column (e.g. a
            dataset written by `trl-entropy curriculum`). Score a dataset with
            [`~SemanticEntropyCurriculum.from_policy`].
        order (`str`, *optional*, defaults to `"ascending"`):
            `"ascending"`: strictly ascending (ties in dataset order). `"stages"`: `num_stages` stages of equal size in
            ascending order, shuffled inside each stage.
        num_stages (`int`, *optional*, defaults to `2`):
            Number of stages (also recorded, as `curriculum_stage`, for `"ascending"`).
        stage (`int`, *optional*):
            Keep only this stage (1-based): the authors trained stage 1, then stage 2 from the stage-1 checkpoint.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the within-stage shuffle.

    Examples:
    ```python
    >>> from trl import GRPOConfig, GRPOTrainer
    >>> from trl_entropy import SemanticEntropyCurriculum
    >>> curriculum = SemanticEntropyCurriculum.from_policy(dataset, "Qwen/Qwen2.5-Math-7B", num_samples=8)
    >>> args = GRPOConfig(output_dir="out", shuffle_dataset=False)
    >>> trainer = GRPOTrainer(model, reward_funcs, args=args, train_dataset=curriculum)
    ```
    """

    def __init__(
        self,
        dataset: Dataset,
        scores: Sequence[float] | None = None,
        *,
        order: str = "ascending",
        num_stages: int = 2,
        stage: int | None = None,
        seed: int = 0,
    ):
        if not isinstance(dataset, Dataset):
            raise TypeError(
                f"`dataset` must be a `datasets.Dataset` (map-style, so that its order can be kept), got "
                f"{type(dataset).__name__}."
            )
        if scores is None:
            if SCORE_COLUMN not in dataset.column_names:
                raise ValueError(
                    f"`scores` is None and the dataset has no `{SCORE_COLUMN}` column: score it with "
                    "`SemanticEntropyCurriculum.from_policy(dataset, model)` or `trl-entropy curriculum`."
                )
            scores = dataset[SCORE_COLUMN][:]
        scores = [float(score) for score in scores]
        if len(scores) != len(dataset):
            raise ValueError(f"`scores` has {len(scores)} values for a dataset of {len(dataset)} rows.")
        bad = next((score for score in scores if score < 0 or math.isinf(score)), None)
        if bad is not None:
            raise ValueError(f"`scores` must be semantic entropies (>= 0, finite, or NaN for no score), got {bad}.")
        indices, stages = curriculum_order(scores, order, num_stages, seed)
        stage_of_row = [0] * len(dataset)
        for index, row_stage in zip(indices, stages, strict=True):
            stage_of_row[index] = row_stage
        if stage is not None:
            _check("stage", stage, isinstance(stage, int) and 1 <= stage <= num_stages, f"in [1, {num_stages}]")
            indices = [index for index in indices if stage_of_row[index] == stage]

        # A curriculum built from a curriculum (e.g. one stage of a saved one) keeps the indices of the first source.
        if SOURCE_INDEX_COLUMN in dataset.column_names:
            source_index = dataset[SOURCE_INDEX_COLUMN][:]
        else:
            source_index = list(range(len(dataset)))
        columns = {SCORE_COLUMN: scores, STAGE_COLUMN: stage_of_row, SOURCE_INDEX_COLUMN: source_index}
        table = dataset.remove_columns([name for name in columns if name in dataset.column_names])
        for name, values in columns.items():
            table = table.add_column(name, values)
        # An indices mapping over the rows (no copy): TRL's sampler reads rows by position through it, and
        # `save_to_disk` writes them in curriculum order.
        table = table.select(indices)
        super().__init__(
            table.data,
            info=table.info,
            split=table.split,
            indices_table=table._indices,
            fingerprint=table._fingerprint,
        )
        self.order = order
        self.num_stages = num_stages
        self.stage = stage
        self.seed = seed

    @classmethod
    def from_policy(
        cls,
        dataset: Dataset,
        model: Any,
        *,
        order: str = "ascending",
        num_stages: int = 2,
        stage: int | None = None,
        seed: int = 0,
        sampling_seed: int | None = None,
        **scoring_kwargs: Any,
    ) -> "SemanticEntropyCurriculum":
        """
        Score `dataset` with `model` ([`~trl_entropy.sent.scoring.score_semantic_entropy`]: N sampled answers per
        prompt, clustered; cached on disk and resumable) and order it.

        Args:
            dataset ([`datasets.Dataset`]):
                Prompt dataset.
            model (`str` or `transformers.PreTrainedModel`):
                The starting policy (a path, a model id, or a loaded model with `tokenizer=` in `scoring_kwargs`).
            order (`str`), num_stages (`int`), stage (`int`), seed (`int`):
                See [`SemanticEntropyCurriculum`].
            sampling_seed (`int`, *optional*):
                Seed of the scoring samples; defaults to `seed`.
            **scoring_kwargs:
                Passed to `score_semantic_entropy` (`num_samples`, `temperature`, `task`, `cache_dir`, ...).
        """
        from .scorer import score_semantic_entropy

        result = score_semantic_entropy(
            dataset, model, seed=seed if sampling_seed is None else sampling_seed, **scoring_kwargs
        )
        return cls(dataset, result.scores, order=order, num_stages=num_stages, stage=stage, seed=seed)

    def trainer_component(self, args: Any) -> "CurriculumMetrics":
        """The component that checks the training arguments and logs the curriculum (added by the trainer)."""
        return CurriculumMetrics(args, self)

    def card_rows(self) -> dict[str, Any]:
        """The curriculum as model-card hyperparameter rows (SENT's data side)."""
        scores = [score for score in self[SCORE_COLUMN][:] if score == score]  # NaN: no answer at all
        return {
            "curriculum": "semantic entropy, low to high (SENT, arXiv 2512.04359)",
            "curriculum_order": self.order,
            "curriculum_num_stages": self.num_stages,
            "curriculum_stage": "all" if self.stage is None else self.stage,
            "curriculum_prompts": len(self),
            "curriculum_semantic_entropy_range": f"{min(scores):.3f} - {max(scores):.3f}" if scores else "-",
        }

    @staticmethod
    def check_training_args(args: Any) -> None:
        """
        Raise a `ValueError` if the training arguments would reshuffle the curriculum.

        Args:
            args ([`~trl.GRPOConfig`]):
                Training arguments of the trainer the curriculum is given to.
        """
        if getattr(args, "shuffle_dataset", False):
            raise ValueError(
                "`train_dataset` is a SemanticEntropyCurriculum, but `shuffle_dataset=True` would make TRL's sampler "
                "draw the prompts in a random order and undo the curriculum. Set `shuffle_dataset=False` (recipes: "
                "`shuffle_dataset: false`); the curriculum's `order='stages'` already shuffles inside each stage."
            )


class CurriculumMetrics(Component):
    """
    SENT's data side in the trainer, brought by a [`SemanticEntropyCurriculum`] given as `train_dataset`: refuses
    settings that would reshuffle it, logs `entropy/curriculum_semantic_entropy` and `entropy/curriculum_stage` of
    each generated batch's prompts (over all processes; NaN scores, prompts without any answer, are not averaged),
    and describes the curriculum in the model card.
    """

    name = "sent_curriculum"
    order = DATA_ORDER

    def __init__(self, args: Any, curriculum: SemanticEntropyCurriculum):
        super().__init__(args)
        self.curriculum = curriculum

    def check_args(self, args: Any) -> None:
        SemanticEntropyCurriculum.check_training_args(args)

    def on_generation(self, ctx, batch, rows) -> None:
        # Every process reads the same dataset, so all of them take part in the reduction or none does.
        if not rows or SCORE_COLUMN not in rows[0]:
            return
        device = ctx.device
        scores = torch.tensor([float(row[SCORE_COLUMN]) for row in rows], device=device)
        scored = ~scores.isnan()
        stages = torch.tensor([float(row.get(STAGE_COLUMN, 0)) for row in rows], device=device)
        local = torch.stack(
            [scores[scored].sum(), scored.sum().float(), stages.sum(), torch.tensor(float(len(rows)), device=device)]
        )
        score_sum, score_count, stage_sum, count = ctx.reduce(local).tolist()
        ctx.log_value("entropy/curriculum_semantic_entropy", score_sum / score_count if score_count else math.nan)
        if STAGE_COLUMN in rows[0]:
            ctx.log_value("entropy/curriculum_stage", stage_sum / count)

    def hyperparameters(self) -> dict[str, Any]:
        return {}

    def card_rows(self, ctx) -> dict[str, Any]:
        return self.curriculum.card_rows()


__all__ = ["CURRICULUM_ORDERS", "CurriculumMetrics", "SemanticEntropyCurriculum", "curriculum_order"]
