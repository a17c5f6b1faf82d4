# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
r"""
Semantic entropy of a prompt's sampled answers (SENT, arXiv 2512.04359).

The N final answers sampled for one prompt are grouped into clusters of equivalent answers, and

$$
\mathrm{SE} = -\sum_c \frac{n_c}{N} \ln \frac{n_c}{N},
$$

with $n_c$ the size of cluster $c$ (natural logarithm, so $0 \le \mathrm{SE} \le \ln N$). SE is 0 when every sample
gives the same answer and $\ln N$ when all answers differ. Unlike the rest of `trl_entropy.functional` this works on
answers, not tensors: it is the score that orders the SENT curriculum.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from ..eval.answers import MathGrader, cluster_answers


NO_ANSWER_POLICIES = ("cluster", "singleton", "ignore")
"""How samples without an extractable answer (`None`) count: one shared cluster, one cluster each, or not at all."""


def check_no_answer_policy(no_answer: str) -> None:
    """Raise a `ValueError` unless `no_answer` is one of [`NO_ANSWER_POLICIES`]."""
    if no_answer not in NO_ANSWER_POLICIES:
        raise ValueError(f"`no_answer` must be one of {NO_ANSWER_POLICIES}, got {no_answer!r}.")


@functools.lru_cache(maxsize=1)
def _math_grader() -> MathGrader:
    # One grader for every call: creating it imports math-verify and sympy.
    return MathGrader()


def math_answer_equivalence() -> Callable[[Any, Any], bool]:
    r"""
    The default equivalence of [`semantic_entropy`]: answer strings are compared by `math-verify`, anything else
    with `==`.

    Equal strings are equivalent without parsing. Each distinct string is parsed once (per returned function), with
    the LaTeX-only extraction of [`~trl_entropy.eval.MathGrader`] (model output never reaches an `eval`-based parser);
    two strings are then equivalent when `math_verify.verify` accepts their parses, so `"1/2"`, `"\frac{1}{2}"` and
    `"0.5"` are one answer. A string and a non-string are never equivalent.

    Returns:
        `Callable[[Any, Any], bool]`: `equivalent(representative, answer)`.
    """
    grader = _math_grader()
    keys: dict[str, tuple] = {}

    def key(answer: str) -> tuple:
        if answer not in keys:
            keys[answer] = grader.answer_key(answer)
        return keys[answer]

    def equivalent(a: Any, b: Any) -> bool:
        if isinstance(a, str) and isinstance(b, str):
            return a == b or grader.equivalent(key(a), key(b))
        if isinstance(a, str) or isinstance(b, str):
            return False
        return a == b

    return equivalent


def answer_clusters(
    answers: Sequence[Any | None],
    equivalent: Callable[[Any, Any], bool] | None = None,
    no_answer: str = "cluster",
) -> list[int]:
    """
    Sizes of the clusters of equivalent answers among one prompt's samples.

    Answers are clustered greedily with [`~trl_entropy.eval.cluster_answers`]: each answer joins the first cluster
    whose first member is equivalent to it (`equivalent(first_member, answer)`), else starts a new one.

    Args:
        answers (`Sequence[Any | None]`):
            The extracted final answer of each sample, `None` where no answer could be extracted.
        equivalent (`Callable[[Any, Any], bool]`, *optional*):
            Answer equivalence; defaults to [`math_answer_equivalence`] (math-verify for strings, `==` otherwise).
            With the default, exact duplicates are counted once before clustering, so each distinct answer is
            compared (and parsed) once.
        no_answer (`str`, *optional*, defaults to `"cluster"`):
            What `None` answers are: `"cluster"` (together one cluster), `"singleton"` (a cluster each) or
            `"ignore"` (left out).

    Returns:
        `list[int]`: The size of each cluster of answers, in order of first appearance, followed by the no-answer
        cluster(s) (one of size `answers.count(None)` under `"cluster"`, that many of size 1 under `"singleton"`,
        none under `"ignore"`). The sizes add up to the number of samples counted.
    """
    check_no_answer_policy(no_answer)
    answered = [answer for answer in answers if answer is not None]
    num_no_answer = len(answers) - len(answered)
    if equivalent is None:
        equivalent = math_answer_equivalence()
        if all(isinstance(answer, Hashable) for answer in answered):
            # An exact duplicate joins its first occurrence's cluster: count it there instead of comparing it again.
            counts = dict.fromkeys(answered, 0)
            for answer in answered:
                counts[answer] += 1
            return _sizes(cluster_answers(list(counts), equivalent), counts.values(), num_no_answer, no_answer)
    return _sizes(cluster_answers(answered, equivalent), [1] * len(answered), num_no_answer, no_answer)


def _sizes(labels: Sequence[int], counts: Sequence[int], num_no_answer: int, no_answer: str) -> list[int]:
    sizes = [0] * (max(labels) + 1 if labels else 0)
    for label, count in zip(labels, counts, strict=True):
        sizes[label] += count
    if num_no_answer == 0 or no_answer == "ignore":
        return sizes
    return sizes + ([num_no_answer] if no_answer == "cluster" else [1] * num_no_answer)


def entropy_of_cluster_sizes(sizes: Sequence[int]) -> float:
    """
    `-sum_c (n_c/N) ln(n_c/N)` of cluster sizes `n_c`, `N = sum(sizes)`; `nan` when there are no samples.

    Args:
        sizes (`Sequence[int]`):
            Cluster sizes, for example from [`answer_clusters`].

    Returns:
        `float`: The entropy in nats.
    """
    total = sum(sizes)
    if total == 0:
        return float("nan")
    # `0.0 +` turns the -0.0 of a single cluster into 0.0.
    return 0.0 + -sum(size / total * math.log(size / total) for size in sizes if size)


def semantic_entropy(
    answers: Sequence[Any | None],
    equivalent: Callable[[Any, Any], bool] | None = None,
    no_answer: str = "cluster",
) -> float:
    r"""
    Semantic entropy of one prompt's sampled answers, $\mathrm{SE} = -\sum_c (n_c/N) \ln (n_c/N)$ over the clusters
    of equivalent answers (see [`answer_clusters`]).

    Example: `["4", "4", "5", None]` has clusters of sizes 2, 1 and (no answer) 1, so
    `SE = -(0.5 ln 0.5 + 2 * 0.25 ln 0.25) = 1.0397`.

    Args:
        answers (`Sequence[Any | None]`):
            The extracted final answer of each sample (`N = len(answers)`), `None` where none could be extracted.
        equivalent (`Callable[[Any, Any], bool]`, *optional*):
            Answer equivalence; defaults to [`math_answer_equivalence`] (math-verify for strings, `==` otherwise).
        no_answer (`str`, *optional*, defaults to `"cluster"`):
            `"cluster"`: the samples without an answer form one cluster (they agree on "no answer");
            `"singleton"`: each forms its own cluster (maximal disagreement); `"ignore"`: they are dropped and `N` is
            the number of answered samples, and when no sample has an answer the result is `nan` (which the SENT
            curriculum puts last).

    Returns:
        `float`: The semantic entropy in nats, in `[0, ln N]`.
    """
    if len(answers) == 0:
        raise ValueError("`answers` must hold at least one answer, got an empty sequence.")
    return entropy_of_cluster_sizes(answer_clusters(answers, equivalent, no_answer))
