# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Sample-based evaluation metrics: unbiased Pass@k, Acc@N and majority voting (Maj@k).

Every metric here works on the `N` graded samples of one problem; [`summarize`] averages them over problems. Nothing
here knows how samples are graded: correctness flags and answer-class keys come from the graders of
`trl_entropy.eval.answers`.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Sequence
from typing import Any


def _check_int(name: str, value: Any, low: int, high: int | None, range_text: str) -> None:
    # Any integer type is accepted (numpy counts included), but not booleans: `pass_at_k(True, ...)` is a bug in the
    # caller, not a count.
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < low
        or (high is not None and value > high)
    ):
        raise ValueError(f"`{name}` must be {range_text}, got {value!r}")


def pass_at_k(n: int, c: int, k: int) -> float:
    r"""
    Unbiased Pass@k estimator of Chen et al. (2021, arXiv 2107.03374).

    With `n` samples of which `c` are correct, the probability that at least one of `k` samples drawn without
    replacement is correct is `1 - C(n - c, k) / C(n, k)`. The ratio of binomials is computed as the product
    `prod_{i = n - c + 1}^{n} (1 - k / i)`, which never forms a large binomial coefficient and is accurate for `n` in
    the thousands.

    Args:
        n (`int`):
            Number of samples, `n >= 1`.
        c (`int`):
            Number of correct samples, in `[0, n]`.
        k (`int`):
            Budget of attempts, in `[1, n]`.

    Returns:
        `float`: The estimate, in `[0, 1]`; exactly `1.0` when `n - c < k` (every draw of `k` samples contains a
        correct one) and exactly `0.0` when `c == 0`.
    """
    _check_int("n", n, 1, None, ">= 1")
    _check_int("c", c, 0, n, f"in [0, n={n}]")
    _check_int("k", k, 1, n, f"in [1, n={n}]")
    if n - c < k:
        return 1.0
    # C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (i - k) / i: each factor is in (0, 1), so the running product only
    # shrinks and cannot overflow.
    miss = 1.0
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def acc_at_n(correct: Sequence[bool]) -> float:
    """
    Acc@N: the mean correctness of the `N` samples of a problem (equal to the unbiased Pass@1).

    Args:
        correct (`Sequence[bool]`):
            Correctness of each sample.

    Returns:
        `float`: Share of correct samples, in `[0, 1]`.
    """
    if len(correct) == 0:
        raise ValueError("`correct` must not be empty, got 0 samples")
    return sum(1 for flag in correct if flag) / len(correct)


def maj_at_k(clusters: Sequence[Hashable | None], correct: Sequence[bool], k: int | None = None) -> float:
    """
    Maj@k: correctness of the majority-vote answer among the first `k` samples of a problem.

    Each sample with an extracted answer votes for its answer class (`clusters[i]`); samples without an answer
    (`None`) do not vote. The class with the most votes wins.

    Tie rule: when several classes share the largest number of votes, the score is the expected correctness of a
    uniformly random choice among them, i.e. `(number of tied classes that are correct) / (number of tied classes)`.
    For example two votes for a correct class against two votes for a wrong one score `0.5`. This makes the metric
    independent of sample order and of any tie-breaking convention.

    A class is correct when its first sample (in sample order, among the first `k`) is marked correct. Samples of one
    class are equivalent answers, so with a consistent grader all of them carry the same flag; looking at the first
    one keeps the rule well defined if they do not.

    Args:
        clusters (`Sequence[Hashable | None]`):
            Answer-class key of each sample (equal keys mean equivalent answers), or `None` when no answer was
            extracted.
        correct (`Sequence[bool]`):
            Correctness of each sample, same length as `clusters`.
        k (`int` or `None`, *optional*, defaults to `None`):
            Number of leading samples that vote, in `[1, len(clusters)]`; `None` lets all samples vote.

    Returns:
        `float`: Score in `[0, 1]`; `0.0` when none of the first `k` samples has an answer.
    """
    if len(clusters) != len(correct):
        raise ValueError(f"`clusters` and `correct` must have the same length, got {len(clusters)} and {len(correct)}")
    if len(clusters) == 0:
        raise ValueError("`clusters` and `correct` must not be empty, got 0 samples")
    if k is None:
        k = len(clusters)
    _check_int("k", k, 1, len(clusters), f"in [1, {len(clusters)}] (the number of samples)")

    votes: dict[Hashable, int] = {}
    class_correct: dict[Hashable, bool] = {}
    for key, flag in zip(clusters[:k], correct[:k], strict=True):
        if key is None:
            continue
        votes[key] = votes.get(key, 0) + 1
        class_correct.setdefault(key, bool(flag))
    if not votes:
        return 0.0
    top = max(votes.values())
    tied = [key for key, count in votes.items() if count == top]
    return sum(1 for key in tied if class_correct[key]) / len(tied)


def default_ks(n: int) -> list[int]:
    """
    Default Pass@k budgets for `n` samples: the powers of two up to `n`, plus `n` itself.

    Args:
        n (`int`):
            Number of samples per problem, `n >= 1`.

    Returns:
        `list[int]`: Increasing budgets, for example `[1, 2, 4, 8]` for `n=8` and `[1, 2, 4, 8, 10]` for `n=10`.
    """
    _check_int("n", n, 1, None, ">= 1")
    ks = []
    k = 1
    while k <= n:
        ks.append(k)
        k *= 2
    if ks[-1] != n:
        ks.append(n)
    return ks


def summarize(records: Sequence[dict], ks: Sequence[int] | None = None) -> dict[str, float]:
    """
    Averages the per-problem metrics over a benchmark.

    Args:
        records (`Sequence[dict]`):
            One record per problem, with keys `"correct"` (`list[bool]`, the `N` samples' correctness) and
            `"clusters"` (`list`, the samples' answer-class keys or `None`, see [`maj_at_k`]). Every record must have
            the same `N`.
        ks (`Sequence[int]` or `None`, *optional*, defaults to `None`):
            Pass@k budgets, each in `[1, N]`; `None` uses [`default_ks`]`(N)`.

    Returns:
        `dict[str, float]`: In this order: `"num_problems"`, `"num_samples"` (`N`), `"acc@N"` and `"maj@N"` (with the
        number substituted, e.g. `"acc@8"`), then `"pass@k"` for each budget; metric values are means over problems.
    """
    if len(records) == 0:
        raise ValueError("`records` must not be empty, got 0 problems")
    num_samples = len(records[0]["correct"])
    if num_samples == 0:
        raise ValueError("Problem 0 has no samples; every problem needs at least one.")
    for index, record in enumerate(records):
        if len(record["correct"]) != num_samples:
            raise ValueError(
                f"Every problem must have the same number of samples: problem {index} has "
                f"{len(record['correct'])}, problem 0 has {num_samples}."
            )
        if len(record["clusters"]) != num_samples:
            raise ValueError(
                f"Problem {index} has {len(record['clusters'])} cluster keys for {num_samples} samples; "
                "`clusters` and `correct` must have the same length."
            )
    ks = default_ks(num_samples) if ks is None else list(ks)
    for k in ks:
        _check_int("k", k, 1, num_samples, f"in [1, N={num_samples}]")

    count = len(records)
    summary: dict[str, float] = {"num_problems": count, "num_samples": num_samples}
    summary[f"acc@{num_samples}"] = sum(acc_at_n(r["correct"]) for r in records) / count
    summary[f"maj@{num_samples}"] = sum(maj_at_k(r["clusters"], r["correct"]) for r in records) / count
    num_correct = [sum(1 for flag in r["correct"] if flag) for r in records]
    for k in ks:
        summary[f"pass@{k}"] = sum(pass_at_k(num_samples, c, k) for c in num_correct) / count
    return summary
