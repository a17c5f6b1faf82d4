# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Semantic entropy of sampled answers: hand-computed values, no-answer policies, math-verify equivalence."""

import math

import pytest

from trl_entropy.eval.answers import MathGrader
from trl_entropy.functional.semantic_entropy import (
    NO_ANSWER_POLICIES,
    answer_clusters,
    entropy_of_cluster_sizes,
    math_answer_equivalence,
    semantic_entropy,
)


def test_all_equal_answers_have_zero_entropy():
    assert semantic_entropy(["4"] * 8) == 0.0
    assert answer_clusters(["4"] * 8) == [8]
    assert semantic_entropy([7] * 3) == 0.0


@pytest.mark.parametrize("n", [2, 5, 8])
def test_all_distinct_answers_have_entropy_log_n(n):
    assert semantic_entropy([str(i) for i in range(n)]) == pytest.approx(math.log(n))
    assert answer_clusters(list(range(n))) == [1] * n


def test_mixed_answers():
    # Clusters {a, a}, {b}, {c}: -(1/2 ln 1/2 + 2 * 1/4 ln 1/4) = 1.5 ln 2.
    expected = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert expected == pytest.approx(1.0397207708399179)
    assert semantic_entropy(["a", "a", "b", "c"]) == pytest.approx(expected)
    # Clusters in order of first appearance.
    assert answer_clusters(["b", "a", "c", "a"]) == [1, 2, 1]
    # Integers (countdown values) compare with ==.
    assert semantic_entropy([12, 12, 5, 3]) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("no_answer", "sizes", "expected"),
    [
        # ["5", None, "5", None, None, "6"]: answers {5, 5}, {6}; three samples without an answer.
        ("cluster", [2, 1, 3], -(2 / 6 * math.log(2 / 6) + 1 / 6 * math.log(1 / 6) + 3 / 6 * math.log(3 / 6))),
        ("singleton", [2, 1, 1, 1, 1], -(2 / 6 * math.log(2 / 6) + 4 * (1 / 6) * math.log(1 / 6))),
        ("ignore", [2, 1], -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))),
    ],
)
def test_no_answer_policies(no_answer, sizes, expected):
    answers = ["5", None, "5", None, None, "6"]
    assert answer_clusters(answers, no_answer=no_answer) == sizes
    assert semantic_entropy(answers, no_answer=no_answer) == pytest.approx(expected)


def test_only_unanswered_samples():
    answers = [None] * 4
    assert semantic_entropy(answers) == 0.0  # they all agree on "no answer"
    assert semantic_entropy(answers, no_answer="singleton") == pytest.approx(math.log(4))
    assert answer_clusters(answers, no_answer="ignore") == []
    assert math.isnan(semantic_entropy(answers, no_answer="ignore"))
    assert math.isnan(entropy_of_cluster_sizes([]))


def test_math_verify_equivalence():
    # 1/2, \frac{1}{2} and 0.5 are one answer; 2/4 too; 3 is another.
    answers = ["1/2", "\\frac{1}{2}", "0.5", "3", "\\frac{2}{4}", "3"]
    assert answer_clusters(answers) == [4, 2]
    assert semantic_entropy(answers) == pytest.approx(-(4 / 6 * math.log(4 / 6) + 2 / 6 * math.log(2 / 6)))
    equivalent = math_answer_equivalence()
    assert equivalent("x^2", "x^{2}") and not equivalent("x^2", "2x")
    # A string is never an integer's equal; integers compare with ==.
    assert not equivalent("3", 3) and equivalent(3, 3)


def test_unparseable_answers_are_compared_as_strings():
    answers = ["no idea :(", "no idea :(", "\\frac{1}{", "42"]
    assert answer_clusters(answers) == [2, 1, 1]


def test_each_distinct_answer_is_parsed_once(monkeypatch):
    parsed = []
    original = MathGrader.answer_key

    def counting(self, answer):
        parsed.append(answer)
        return original(self, answer)

    monkeypatch.setattr(MathGrader, "answer_key", counting)
    assert answer_clusters(["0.5", "1/2", "0.5", "7", "1/2", "7", "0.5", "8"]) == [5, 2, 1]
    assert sorted(parsed) == ["0.5", "1/2", "7", "8"]


def test_custom_equivalence():
    # Answers equivalent when they agree modulo 10: {3, 13, 23}, {5, 15}, {7}.
    answers = [3, 13, 5, 23, 15, 7]

    def modulo_ten(a, b):
        return a % 10 == b % 10

    assert answer_clusters(answers, modulo_ten) == [3, 2, 1]
    expected = -(3 / 6 * math.log(3 / 6) + 2 / 6 * math.log(2 / 6) + 1 / 6 * math.log(1 / 6))
    assert semantic_entropy(answers, modulo_ten) == pytest.approx(expected)
    # The representative is the first member, passed first; None never reaches a custom equivalence.
    calls = []

    def recording(a, b):
        calls.append((a, b))
        return a.lower() == b.lower()

    assert answer_clusters(["Yes", None, "yes", "no"], recording) == [2, 1, 1]
    assert calls == [("Yes", "yes"), ("Yes", "no")]


def test_validation():
    assert NO_ANSWER_POLICIES == ("cluster", "singleton", "ignore")
    with pytest.raises(ValueError, match=r"`answers` must hold at least one answer"):
        semantic_entropy([])
    with pytest.raises(
        ValueError, match=r"`no_answer` must be one of \('cluster', 'singleton', 'ignore'\), got 'drop'"
    ):
        semantic_entropy(["1"], no_answer="drop")
    with pytest.raises(ValueError, match=r"`no_answer` must be one of"):
        answer_clusters(["1"], no_answer=None)
