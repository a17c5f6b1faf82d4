# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The fixed train/test split of an embedded task's problems, and the seeded draws from it that tasks share."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable
from typing import Any


SPLITS = ("train", "test")
# Share of canonical problem keys held out for evaluation. The split is a pure function of the key, so no seed can
# ever move a test problem into the train split.
TEST_FRACTION = 0.2

ProblemKey = tuple[tuple[int, ...], int]


def split_of(key: ProblemKey, salt: str = "") -> str:
    """
    The split of a canonical problem key (sorted numbers, target), from a stable hash of it.

    Args:
        key (`tuple[tuple[int, ...], int]`):
            Sorted numbers and target.
        salt (`str`, *optional*, defaults to `""`):
            Text hashed before the key, so that each task gets a split of its own (`trl-entropy/countdown` has none).

    Returns:
        `str`: `"test"` for a `TEST_FRACTION` share of the keys, `"train"` for the others.
    """
    # SHA-256, not Python's salted `hash`, so the split is the same in every process and release.
    numbers, target = key
    digest = hashlib.sha256(f"{salt}{','.join(map(str, numbers))}={target}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") % 1000 < TEST_FRACTION * 1000 else "train"


class ProblemSplits:
    """
    The problems of an embedded task, split once and for all by [`split_of`], and deterministic draws from them.

    Args:
        name (`str`):
            Task name; seeds the draws (`"<name>-<split>-<seed>"`, `"<name>-stream-<split>-<seed>"`).
        problem_keys (`Callable[[], Iterable[tuple[tuple[int, ...], int]]]`):
            Returns every canonical key (sorted numbers, target) of the task, in a fixed order; called once.
        make_problem (`Callable[[tuple, random.Random], dict]`):
            Builds a problem (with at least `prompt`, `numbers` and `target`) from a key, drawing its display order.
        salt (`str`, *optional*, defaults to `""`):
            Salt of [`split_of`].
    """

    def __init__(
        self,
        name: str,
        problem_keys: Callable[[], Iterable[ProblemKey]],
        make_problem: Callable[[ProblemKey, random.Random], dict[str, Any]],
        salt: str = "",
    ):
        self.name = name
        self.problem_keys = problem_keys
        self.make_problem = make_problem
        self.salt = salt
        self._keys: dict[str, tuple[ProblemKey, ...]] = {}

    def keys(self, split: str) -> tuple[ProblemKey, ...]:
        """The canonical keys of a split, in the order of `problem_keys`."""
        if split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}; expected one of {SPLITS}.")
        if split not in self._keys:
            self._keys[split] = tuple(key for key in self.problem_keys() if split_of(key, self.salt) == split)
        return self._keys[split]

    def generate(self, n: int, seed: int, split: str) -> list[dict[str, Any]]:
        """`n` distinct problems of a split, drawn uniformly without replacement; the same for the same arguments."""
        keys = list(self.keys(split))
        if not 0 <= n <= len(keys):
            raise ValueError(f"Split {split!r} has {len(keys)} distinct problems; cannot draw n={n}.")
        rng = random.Random(f"{self.name}-{split}-{seed}")
        chosen = rng.sample(keys, n)
        return [self.make_problem(key, rng) for key in chosen]

    def sample(self, n: int, seed: int, split: str) -> list[dict[str, Any]]:
        """`n` problems of a split drawn with replacement (for streams longer than the split)."""
        keys = self.keys(split)
        rng = random.Random(f"{self.name}-stream-{split}-{seed}")
        return [self.make_problem(keys[rng.randrange(len(keys))], rng) for _ in range(n)]

    def dataset(self, split: str, n: int | None, seed: int):
        """A `datasets.Dataset` of `n` distinct problems (the whole split for `None`): `prompt`, `numbers`, `target`."""
        from datasets import Dataset

        problems = self.generate(len(self.keys(split)) if n is None else n, seed=seed, split=split)
        return Dataset.from_dict({column: [p[column] for p in problems] for column in ("prompt", "numbers", "target")})
