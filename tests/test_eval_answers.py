# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Graders of `trl_entropy.eval.answers`: math-verify based math grading, Countdown grading, answer clustering."""

import importlib.metadata
import threading

import pytest

from trl_entropy.eval.answers import (
    CountdownGrader,
    GradedSample,
    MathGrader,
    cluster_answers,
    extract_last_boxed,
    math_verify_version,
)
from trl_entropy.tasks.countdown import score_completion, solve


@pytest.fixture(scope="module")
def math_grader():
    return MathGrader()


class TestExtractLastBoxed:
    def test_nested_and_last(self):
        assert extract_last_boxed(r"so \boxed{\frac{1}{2}}.") == r"\frac{1}{2}"
        assert extract_last_boxed(r"\boxed{3} no wait \boxed{4}") == "4"
        assert extract_last_boxed(r"\boxed {x^{2}}") == "x^{2}"

    def test_escaped_braces_and_fbox(self):
        assert extract_last_boxed(r"\boxed{\{1, 2\}}") == r"\{1, 2\}"
        assert extract_last_boxed(r"\fbox{7}") == "7"

    def test_truncated_and_missing(self):
        # The last boxed never closes (cut off): the previous complete one is used.
        assert extract_last_boxed(r"\boxed{5} and then \boxed{\frac{1") == "5"
        assert extract_last_boxed(r"\boxed{\frac{1") is None
        assert extract_last_boxed("no answer here") is None
        assert extract_last_boxed(r"\boxed 5") is None


class TestMathGrader:
    def test_fraction_vs_decimal_reference(self, math_grader):
        graded = math_grader.grade(r"Halving gives \boxed{\frac{1}{2}}.", "0.5")
        assert isinstance(graded, GradedSample)
        assert graded.answer == r"\frac{1}{2}"
        assert graded.key is not None
        assert graded.correct is True

    def test_wrong_answer(self, math_grader):
        graded = math_grader.grade(r"The answer is \boxed{3}", "4")
        assert graded.answer == "3"
        assert graded.correct is False

    def test_no_answer(self, math_grader):
        for completion in ["I am not sure how to solve this.", "We try 2 cases and then 5 more.", r"\boxed{}"]:
            graded = math_grader.grade(completion, "4")
            assert graded.answer is None, completion
            assert graded.key is None
            assert graded.correct is False

    def test_prefers_last_boxed(self, math_grader):
        graded = math_grader.grade(r"First \boxed{3}. Correction: the final answer is \boxed{4}.", "4")
        assert graded.answer == "4"
        assert graded.correct is True
        assert math_grader.grade(r"\boxed{4} ... no, \boxed{3}", "4").correct is False

    def test_announced_answer_without_box(self, math_grader):
        graded = math_grader.grade("Adding up, the final answer is $7$.", "7")
        assert graded.answer == "7"
        assert graded.correct is True
        # Plain-text expressions are never parsed: math-verify would hand them to sympy's eval-based `parse_expr`.
        assert math_grader.grade("Adding up, the final answer is 7.", "7").answer is None

    def test_model_output_is_never_executed(self, math_grader, tmp_path):
        marker = tmp_path / "executed"
        for payload in (
            f"The final answer is __import__('os').system('touch {marker}')",
            f"\\boxed{{__import__('os').system('touch {marker}')}}",
            f"answer: (lambda: __import__('os').system('touch {marker}'))()",
        ):
            assert math_grader.grade(payload, "4").correct is False
        assert not marker.exists()

    @pytest.mark.parametrize("reference", ["0.5", r"$\frac{1}{2}$", r"\boxed{\dfrac12}", "$$0.5$$", " 1/2 "])
    def test_reference_forms(self, math_grader, reference):
        assert math_grader.grade(r"\boxed{\frac{2}{4}}", reference).correct is True
        assert math_grader.grade(r"\boxed{\frac{3}{4}}", reference).correct is False

    def test_aime_style_leading_zero(self, math_grader):
        assert math_grader.grade(r"\boxed{033}", "33").correct is True
        assert math_grader.grade(r"\boxed{33}", "033").correct is True

    def test_equivalence(self, math_grader):
        half = math_grader.grade(r"\boxed{\frac{2}{4}}", "1").key
        decimal = math_grader.grade(r"\boxed{0.5}", "1").key
        three = math_grader.grade(r"\boxed{3}", "1").key
        assert math_grader.equivalent(half, decimal)
        assert math_grader.equivalent(decimal, half)
        assert not math_grader.equivalent(half, three)
        assert not math_grader.equivalent(half, None)
        assert not math_grader.equivalent(None, None)

    def test_gold_is_cached(self, math_grader):
        assert math_grader.gold("0.25") is math_grader.gold("0.25")

    def test_grading_in_worker_thread(self, math_grader):
        # signal.alarm is main-thread only; the grader must drop the timeout there instead of failing.
        results = {}

        def work():
            try:
                results["graded"] = math_grader.grade(r"\boxed{\frac{1}{2}}", "0.5")
                results["equivalent"] = math_grader.equivalent(
                    math_grader.gold("0.5"), math_grader.gold(r"\frac{2}{4}")
                )
            except Exception as error:  # reported below, with the thread's exception
                results["error"] = error

        thread = threading.Thread(target=work)
        thread.start()
        thread.join(timeout=60)
        assert "error" not in results, results.get("error")
        assert results["graded"].correct is True
        assert results["equivalent"] is True

    def test_timeout_setting(self):
        with pytest.raises(ValueError, match="`timeout_seconds` must be a positive integer or None, got 1.5"):
            MathGrader(timeout_seconds=1.5)
        with pytest.raises(ValueError, match="got 0"):
            MathGrader(timeout_seconds=0)
        # Without a timeout grading still works in the main thread.
        assert MathGrader(timeout_seconds=None).grade(r"\boxed{0.5}", r"\frac12").correct is True

    def test_version(self):
        assert math_verify_version() == importlib.metadata.version("math-verify")
        assert math_verify_version()[0].isdigit()


class TestCountdownGrader:
    NUMBERS = [3, 7, 12]
    TARGET = 33

    def test_valid_correct(self):
        grader = CountdownGrader()
        assert grader.grade("3*7+12", self.NUMBERS, self.TARGET) == GradedSample("3*7+12", 33, True)
        # Text from the first <eos> on is ignored, like the task's checker does.
        assert grader.grade(" 12+7*3<eos>junk", self.NUMBERS, self.TARGET) == GradedSample("12+7*3", 33, True)

    def test_valid_wrong_value(self):
        graded = CountdownGrader().grade("3+7+12", self.NUMBERS, self.TARGET)
        assert graded == GradedSample("3+7+12", 22, False)

    def test_invalid(self):
        grader = CountdownGrader()
        for completion in ["3*(7+12)", "3*7+", "", "abc", "-3+7+12"]:
            assert grader.grade(completion, self.NUMBERS, self.TARGET) == GradedSample(None, None, False), completion

    def test_wrong_numbers(self):
        grader = CountdownGrader()
        # Evaluates to 33 but uses 11 instead of 12 / misses a number / repeats one.
        for completion in ["3*7+11+1", "3*11", "3*7+12+0", "7*7-16"]:
            assert grader.grade(completion, self.NUMBERS, self.TARGET) == GradedSample(None, None, False), completion

    def test_correctness_is_the_task_checker(self):
        grader = CountdownGrader()
        numbers, target = [2, 5, 9], 19
        candidates = solve(numbers, target) + ["2+5+9", "9*2+5", "2*9+1", "x"]
        assert solve(numbers, target)
        for completion in candidates:
            expected = score_completion(completion, numbers, target) == 1.0
            assert grader.grade(completion, numbers, target).correct is expected, completion

    def test_equivalent_and_majority_key(self):
        grader = CountdownGrader()
        assert grader.equivalent(33, 33)
        assert not grader.equivalent(33, 22)
        assert not grader.equivalent(None, None)
        keys = [grader.grade(c, self.NUMBERS, self.TARGET).key for c in ["3*7+12", "3+7+12", "12+3*7", "nope"]]
        assert cluster_answers(keys, grader.equivalent) == [0, 1, 0, None]


class TestClusterAnswers:
    def test_greedy_first_representative(self):
        calls = []

        def equal(a, b):
            calls.append((a, b))
            return a == b

        assert cluster_answers([1, None, 2, 1.0, 3, 2], equal) == [0, None, 1, 0, 2, 1]
        # Representative first, new key second; None keys are never compared.
        assert calls[0] == (1, 2)
        assert all(a is not None and b is not None for a, b in calls)

    def test_non_transitive_joins_first_match(self):
        # |a - b| <= 1 is not transitive: 1 starts class 0, 2 joins it (1 ~ 2), 3 does not match the
        # representative 1 and starts class 1 although 2 ~ 3.
        close = lambda a, b: abs(a - b) <= 1  # noqa: E731
        assert cluster_answers([1, 2, 3, 0], close) == [0, 0, 1, 0]

    def test_empty_and_all_none(self):
        assert cluster_answers([], lambda a, b: True) == []
        assert cluster_answers([None, None], lambda a, b: True) == [None, None]

    def test_math_keys(self, math_grader):
        completions = [r"\boxed{\frac{2}{4}}", r"\boxed{0.5}", r"\boxed{3}", "no idea", r"\boxed{3.0}"]
        keys = [math_grader.grade(c, "1").key for c in completions]
        assert cluster_answers(keys, math_grader.equivalent) == [0, 0, 1, None, 1]


def test_extract_last_boxed_is_linear_in_unclosed_boxes():
    import random
    import time

    from trl_entropy.eval.answers import _boxed_openings, _braced_argument, extract_last_boxed

    def quadratic_reference(text):
        # the definition: the last \boxed{ (or \fbox{) whose braces close, each scanned on its own
        contents = (_braced_argument(text, brace) for brace in _boxed_openings(text))
        return next((content for content in contents if content is not None), None)

    rng = random.Random(0)
    pieces = ["\\boxed{", "\\boxed {", "\\fbox{", "{", "}", "\\{", "\\}", "\\\\", "a", "1", " "]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        assert extract_last_boxed(text) == quadratic_reference(text), text
    # 10,000 unclosed boxes after a complete one: one scan per box took about 90 s
    text = "\\boxed{42} " + "\\boxed{" * 10_000 + "x" * 100_000
    start = time.perf_counter()
    assert extract_last_boxed(text) == "42"
    assert time.perf_counter() - start < 2.0
