# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Sample-based metrics of `trl_entropy.eval.metrics`, checked against hand-computed values."""

import math
import re
from fractions import Fraction

import numpy as np
import pytest

from trl_entropy.eval.metrics import acc_at_n, default_ks, maj_at_k, pass_at_k, summarize


def exact_pass_at_k(n, c, k):
    # 1 - C(n-c, k) / C(n, k) in exact rational arithmetic (math.comb(a, b) is 0 when b > a).
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


class TestPassAtK:
    def test_hand_computed(self):
        # n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10 = 0.7
        assert pass_at_k(5, 2, 2) == pytest.approx(0.7, abs=1e-12)
        # n=10, c=3, k=1: 1 - C(7,1)/C(10,1) = 1 - 7/10 = 0.3 (pass@1 is c/n)
        assert pass_at_k(10, 3, 1) == pytest.approx(0.3, abs=1e-12)
        # n=4, c=1, k=2: 1 - C(3,2)/C(4,2) = 1 - 3/6 = 0.5
        assert pass_at_k(4, 1, 2) == pytest.approx(0.5, abs=1e-12)
        # n=6, c=2, k=3: 1 - C(4,3)/C(6,3) = 1 - 4/20 = 0.8
        assert pass_at_k(6, 2, 3) == pytest.approx(0.8, abs=1e-12)

    def test_edge_cases(self):
        # n = k: one correct sample among all n drawn is enough; none correct gives 0.
        assert pass_at_k(4, 1, 4) == 1.0
        assert pass_at_k(4, 0, 4) == 0.0
        # c = 0 is exactly 0 for every k; c = n is exactly 1 for every k.
        assert all(pass_at_k(7, 0, k) == 0.0 for k in range(1, 8))
        assert all(pass_at_k(7, 7, k) == 1.0 for k in range(1, 8))
        # n - c < k: every draw of k samples contains a correct one, so the result is exactly 1.0.
        assert pass_at_k(10, 8, 3) == 1.0
        assert pass_at_k(1, 1, 1) == 1.0
        assert pass_at_k(1, 0, 1) == 0.0

    def test_matches_exact_binomial_formula(self):
        for n in range(1, 16):
            for c in range(0, n + 1):
                for k in range(1, n + 1):
                    assert pass_at_k(n, c, k) == pytest.approx(exact_pass_at_k(n, c, k), abs=1e-12), (n, c, k)

    def test_large_n_is_stable(self):
        # The binomials here have hundreds of digits; the product form must still agree with exact arithmetic.
        for n, c, k in [(5000, 10, 100), (4096, 1, 1024), (3000, 1500, 7), (2048, 2000, 64)]:
            value = pass_at_k(n, c, k)
            assert 0.0 <= value <= 1.0
            assert value == pytest.approx(exact_pass_at_k(n, c, k), rel=1e-9, abs=1e-12), (n, c, k)

    def test_numpy_integers(self):
        # Counts often come out of numpy/torch reductions.
        assert pass_at_k(np.int64(5), np.int64(2), np.int32(2)) == pytest.approx(0.7, abs=1e-12)
        with pytest.raises(ValueError, match="`n` must be >= 1, got True"):
            pass_at_k(True, 0, 1)

    def test_pass_at_1_is_mean_correctness(self):
        for n in (1, 3, 8, 100):
            for c in range(n + 1):
                assert pass_at_k(n, c, 1) == pytest.approx(c / n, abs=1e-12)

    def test_monotone_in_k(self):
        values = [pass_at_k(32, 3, k) for k in range(1, 33)]
        assert all(a <= b for a, b in zip(values, values[1:], strict=False))

    @pytest.mark.parametrize(
        "args, message",
        [
            ((0, 0, 1), "`n` must be >= 1, got 0"),
            ((-3, 0, 1), "`n` must be >= 1, got -3"),
            ((8, 9, 1), "`c` must be in [0, n=8], got 9"),
            ((8, -1, 1), "`c` must be in [0, n=8], got -1"),
            ((8, 2, 9), "`k` must be in [1, n=8], got 9"),
            ((8, 2, 0), "`k` must be in [1, n=8], got 0"),
            ((8, 2, 1.5), "`k` must be in [1, n=8], got 1.5"),
        ],
    )
    def test_errors(self, args, message):
        with pytest.raises(ValueError, match=re.escape(message)):
            pass_at_k(*args)


class TestAccAtN:
    def test_values(self):
        # 3 of 4 samples correct: 3/4
        assert acc_at_n([True, False, True, True]) == 0.75
        assert acc_at_n([False] * 5) == 0.0
        assert acc_at_n([True]) == 1.0

    def test_equals_pass_at_1(self):
        correct = [True, False, False, True, True, False, False]
        assert acc_at_n(correct) == pytest.approx(pass_at_k(len(correct), sum(correct), 1))

    def test_empty(self):
        with pytest.raises(ValueError, match="must not be empty"):
            acc_at_n([])


class TestMajAtK:
    def test_clear_majority(self):
        # Class "b" has 3 votes against 1: it wins, and it is correct.
        assert maj_at_k(["a", "b", "b", "b"], [False, True, True, True]) == 1.0
        # Same votes, but the majority class is wrong.
        assert maj_at_k(["a", "b", "b", "b"], [True, False, False, False]) == 0.0

    def test_two_way_tie(self):
        # 2 votes for a correct class vs 2 for a wrong one: expected correctness of a random pick = 1/2.
        assert maj_at_k(["a", "a", "b", "b"], [True, True, False, False]) == 0.5

    def test_three_way_tie(self):
        # One vote each for three classes, one of them correct: 1/3.
        assert maj_at_k([0, 1, 2], [False, True, False]) == pytest.approx(1 / 3)
        # Two of the three tied classes correct: 2/3.
        assert maj_at_k([0, 1, 2], [True, True, False]) == pytest.approx(2 / 3)

    def test_tie_is_order_independent(self):
        assert maj_at_k(["b", "a", "b", "a"], [False, True, False, True]) == 0.5

    def test_none_never_votes(self):
        # Two samples without an answer cannot outvote the single answered (correct) sample.
        assert maj_at_k([None, None, "x"], [False, False, True]) == 1.0
        assert maj_at_k([None, None, "x"], [False, False, False]) == 0.0
        # None answers are not a class: "x" (2 votes) beats "y" (1 vote) despite 3 unanswered samples.
        assert maj_at_k([None, "y", None, "x", None, "x"], [False, True, False, False, False, False]) == 0.0

    def test_no_answer_at_all(self):
        assert maj_at_k([None, None, None], [False, False, False]) == 0.0

    def test_first_k_samples(self):
        clusters = ["a", "b", "b", "b"]
        correct = [True, False, False, False]
        # k=1: only "a" votes (correct) -> 1; k=2: "a" vs "b" tie -> 1/2; k=3 or 4: "b" wins (wrong) -> 0.
        assert maj_at_k(clusters, correct, k=1) == 1.0
        assert maj_at_k(clusters, correct, k=2) == 0.5
        assert maj_at_k(clusters, correct, k=3) == 0.0
        assert maj_at_k(clusters, correct) == maj_at_k(clusters, correct, k=4) == 0.0

    def test_class_correctness_from_first_sample(self):
        # Inconsistent flags inside one class: the first sample of the class decides.
        assert maj_at_k(["a", "a"], [True, False]) == 1.0
        assert maj_at_k(["a", "a"], [False, True]) == 0.0

    @pytest.mark.parametrize(
        "clusters, correct, k, message",
        [
            (["a", "b"], [True], None, "must have the same length, got 2 and 1"),
            ([], [], None, "must not be empty"),
            (["a", "b"], [True, False], 3, "`k` must be in [1, 2] (the number of samples), got 3"),
            (["a", "b"], [True, False], 0, "`k` must be in [1, 2] (the number of samples), got 0"),
        ],
    )
    def test_errors(self, clusters, correct, k, message):
        with pytest.raises(ValueError, match=re.escape(message)):
            maj_at_k(clusters, correct, k)


class TestDefaultKs:
    def test_values(self):
        assert default_ks(1) == [1]
        assert default_ks(2) == [1, 2]
        assert default_ks(3) == [1, 2, 3]
        assert default_ks(8) == [1, 2, 4, 8]
        assert default_ks(10) == [1, 2, 4, 8, 10]
        assert default_ks(1024)[-3:] == [256, 512, 1024]

    def test_errors(self):
        with pytest.raises(ValueError, match=re.escape("`n` must be >= 1, got 0")):
            default_ks(0)


class TestSummarize:
    # Problem 0: correct [T, F, F, T], classes [0, 1, 1, 0]
    #   acc@4 = 2/4 = 0.5; maj@4: class 0 (correct, 2 votes) ties class 1 (wrong, 2 votes) -> 0.5
    #   pass@1 = 0.5; pass@2 = 1 - C(2,2)/C(4,2) = 1 - 1/6 = 5/6; pass@4 = 1 (n - c = 2 < 4)
    # Problem 1: correct [F, F, F, F], classes [None, 0, 0, 1]: every metric is 0.
    # Means: acc@4 = 0.25, maj@4 = 0.25, pass@1 = 0.25, pass@2 = 5/12, pass@4 = 0.5
    RECORDS = [
        {"correct": [True, False, False, True], "clusters": [0, 1, 1, 0]},
        {"correct": [False, False, False, False], "clusters": [None, 0, 0, 1]},
    ]

    def test_values_and_order(self):
        summary = summarize(self.RECORDS)
        assert list(summary) == ["num_problems", "num_samples", "acc@4", "maj@4", "pass@1", "pass@2", "pass@4"]
        assert summary["num_problems"] == 2
        assert summary["num_samples"] == 4
        assert summary["acc@4"] == pytest.approx(0.25)
        assert summary["maj@4"] == pytest.approx(0.25)
        assert summary["pass@1"] == pytest.approx(0.25)
        assert summary["pass@2"] == pytest.approx(5 / 12)
        assert summary["pass@4"] == pytest.approx(0.5)

    def test_custom_ks(self):
        # pass@3: problem 0 has n - c = 2 < 3 -> 1; problem 1 -> 0; mean 0.5.
        summary = summarize(self.RECORDS, ks=[3])
        assert list(summary) == ["num_problems", "num_samples", "acc@4", "maj@4", "pass@3"]
        assert summary["pass@3"] == pytest.approx(0.5)

    def test_errors(self):
        with pytest.raises(ValueError, match="must not be empty"):
            summarize([])
        uneven = [self.RECORDS[0], {"correct": [True, False], "clusters": [0, 1]}]
        with pytest.raises(ValueError, match="problem 1 has 2, problem 0 has 4"):
            summarize(uneven)
        mismatched = [self.RECORDS[0], {"correct": [True] * 4, "clusters": [0, 0]}]
        with pytest.raises(ValueError, match="Problem 1 has 2 cluster keys for 4 samples"):
            summarize(mismatched)
        with pytest.raises(ValueError, match=re.escape("`k` must be in [1, N=4], got 5")):
            summarize(self.RECORDS, ks=[1, 5])
