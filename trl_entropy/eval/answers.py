# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Graders: turn a completion into an answer, decide whether it is correct and whether two answers are equivalent.

A grader returns a [`GradedSample`] per completion. Its `key` is what answer equivalence is decided on (by the
grader's `equivalent`), and [`cluster_answers`] groups the keys of one problem's samples into answer classes for
majority voting (`trl_entropy.eval.metrics.maj_at_k`).

- [`MathGrader`] grades free-form math answers with the `math-verify` package (symbolic and numeric equivalence).
- [`CountdownGrader`] grades the embedded Countdown task with the task's own checker.
- [`CountdownStepsGrader`] grades the step-by-step Countdown task with its own checker.

Nothing here calls `eval`.
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Callable, Sequence
from typing import Any

# The shared extraction pieces, re-exported: they were defined here before the plain-text grader needed them.
from .extraction import (  # noqa: F401
    _BOXED_COMMANDS,
    GradedSample,
    _boxed_openings,
    _braced_argument,
    _closing_braces,
    _strip_math_delimiters,
    extract_last_boxed,
)


def math_verify_version() -> str:
    """
    Version of the installed `math-verify` package, for recording alongside evaluation results.

    Returns:
        `str`: The version string, for example `"0.9.0"`.
    """
    return importlib.metadata.version("math-verify")


class MathGrader:
    r"""
    Grader for free-form math answers, built on `math-verify`.

    The prediction is the content of the last complete `\boxed{}` of the completion (see [`extract_last_boxed`]).
    Without one, `math-verify` looks for an explicitly announced answer in LaTeX math ("final answer is $7$"), but
    not for bare numbers in the text: a completion that states no final answer gets no answer. The reference answer
    may be bare (`"0.5"`), wrapped in `$...$` or in `\boxed{}`; its parse is cached per reference string.

    The key of a sample is the tuple returned by `math_verify.parse` (the parsed expressions plus their string form),
    and two keys are equivalent when `math_verify.verify` accepts them.

    Timeouts: `math-verify` bounds each parse and comparison with `signal.alarm`, which Python only allows in the main
    thread (elsewhere it raises `ValueError`). This grader therefore passes `timeout_seconds` when it runs in the main
    thread and `None` (no timeout, no signal handling; math-verify logs a one-time warning about it) in any other
    thread, so grading works everywhere and keeps its protection against pathological expressions where the
    protection is available. Parsing and comparison errors,
    including timeouts, count as "no answer" / "not equivalent", never as exceptions.

    Args:
        timeout_seconds (`int` or `None`, *optional*, defaults to `5`):
            Time limit of each parse and comparison in the main thread (whole seconds, as `signal.alarm` takes);
            `None` disables it everywhere.
        plain_text (`bool`, *optional*, defaults to `False`):
            When a completion has neither a `\boxed{}` nor an announced LaTeX answer, read a plain-text final answer
            ("The answer is 12", "#### 1,234", a last number; see `trl_entropy.eval.plain_text`). That answer is
            parsed by the hand-written numeric parser, and only its canonical form (digits, `-`, `\frac{p}{q}`)
            reaches math-verify.
        extractor (`Callable[[str], str | None]` or `None`, *optional*, defaults to `None`):
            Replaces the extraction: called on the completion text, returns the answer string (parsed as LaTeX, as a
            boxed answer is) or `None`.
    """

    def __init__(self, timeout_seconds: int | None = 5, plain_text: bool = False, extractor=None):
        # `signal.alarm` takes whole seconds; a float would make every parse fail (math-verify swallows the TypeError
        # and reports "no answer"), so it is refused here.
        if timeout_seconds is not None and (
            isinstance(timeout_seconds, bool) or not isinstance(timeout_seconds, int) or timeout_seconds < 1
        ):
            raise ValueError(f"`timeout_seconds` must be a positive integer or None, got {timeout_seconds!r}")
        # Imported here so that importing `trl_entropy.eval` does not pay for sympy.
        import math_verify

        self._math_verify = math_verify
        self.timeout_seconds = timeout_seconds
        self.plain_text = plain_text
        self.extractor = extractor
        # Completions are searched for a complete boxed answer first (by `extract_last_boxed`), then for an explicitly
        # announced one only; math-verify's own boxed matching is off so that a truncated `\boxed{...` is not
        # half-read as an answer.
        # Only math-verify's LaTeX extraction is used, never its plain-expression one: that one hands the matched
        # text to sympy's `parse_expr`, which is built on Python's `eval`, and model output is never evaluated.
        # Plain numbers and fractions such as `1/2` parse as LaTeX too.
        self._anchored_config = [
            math_verify.LatexExtractionConfig(try_extract_without_anchor=False, boxed_match_priority=-1),
        ]
        # Text already isolated as "the answer" (boxed content, reference) is parsed as LaTeX.
        self._answer_config = [math_verify.LatexExtractionConfig()]
        self._gold_cache: dict[str, tuple] = {}

    def _timeout(self) -> int | None:
        if threading.current_thread() is threading.main_thread():
            return self.timeout_seconds
        return None

    def _parse(self, text: str, config) -> list:
        return self._math_verify.parse(text, extraction_config=config, parsing_timeout=self._timeout())

    def answer_key(self, answer: str) -> tuple:
        r"""
        Key of a text that is already an answer (the content of a `\boxed{}`, an extracted answer string).

        Args:
            answer (`str`):
                The answer, for example `"\frac{1}{2}"` or `"0.5"`, without math delimiters.

        Returns:
            `tuple`: The parsed expressions, comparable through [`~MathGrader.equivalent`]; `(answer,)` when
            `math-verify` cannot parse it (such keys match only the same parse or the same string).
        """
        # `$...$` makes the LaTeX extractor take the whole text as one expression.
        parsed = self._parse(f"${answer}$", self._answer_config)
        # An answer math-verify cannot parse at all is kept as its string, compared by string equality.
        return tuple(parsed) if parsed else (answer,)

    def gold(self, reference: str) -> tuple:
        r"""
        Parsed reference answer (cached per reference string).

        Args:
            reference (`str`):
                Reference answer, bare or wrapped in `$...$` or `\boxed{}`.

        Returns:
            `tuple`: The key of the reference, comparable with sample keys through [`~MathGrader.equivalent`].
        """
        reference = str(reference)
        if reference not in self._gold_cache:
            text = reference.strip()
            boxed = extract_last_boxed(text)
            if boxed is not None:
                text = boxed
            self._gold_cache[reference] = self.answer_key(_strip_math_delimiters(text))
        return self._gold_cache[reference]

    def extract(self, completion: str) -> tuple[str | None, tuple | None]:
        r"""
        Extracts the final answer of a completion: the last complete `\boxed{}`, else an explicitly announced answer
        in LaTeX math.

        Args:
            completion (`str`):
                Model output.

        Returns:
            `tuple[str | None, tuple | None]`: The printable answer and its key (see [`~MathGrader.equivalent`]),
            `(None, None)` when the completion states no final answer.
        """
        if self.extractor is not None:
            from .plain_text import call_extractor

            answer = call_extractor(self.extractor, completion)
            return (None, None) if answer is None else (answer, self.answer_key(answer))
        boxed = extract_last_boxed(completion)
        if boxed is not None and boxed.strip():
            answer = boxed.strip()
            return answer, self.answer_key(answer)
        parsed = self._parse(completion, self._anchored_config)
        if not parsed and self.plain_text:
            from .plain_text import extract_plain_answer, parse_number

            answer = extract_plain_answer(completion)
            if answer is None:
                return None, None
            # The value in a canonical form built here (never the model's text): digits, a sign and `\frac`.
            value = parse_number(answer)
            canonical = (
                str(value.numerator)
                if value.denominator == 1
                else (f"{'-' if value < 0 else ''}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}")
            )
            return answer, self.answer_key(canonical)
        if not parsed:
            return None, None
        # With its default fallback, `parse` appends the matched text as a string after the parsed expression.
        strings = [item for item in parsed if isinstance(item, str)]
        return (strings[-1] if strings else str(parsed[0])), tuple(parsed)

    def grade(self, completion: str, reference: str) -> GradedSample:
        """
        Extracts the answer of a completion (see [`~MathGrader.extract`]) and checks it against the reference.

        Args:
            completion (`str`):
                Model output.
            reference (`str`):
                Reference answer of the problem.

        Returns:
            [`GradedSample`]: The extracted answer (`None` if none), its key and its correctness.
        """
        answer, key = self.extract(completion)
        if key is None:
            return GradedSample(answer=None, key=None, correct=False)
        return GradedSample(answer=answer, key=key, correct=self.equivalent(self.gold(reference), key))

    def equivalent(self, key_a: Any, key_b: Any) -> bool:
        """
        Whether two keys denote the same answer, by `math_verify.verify`.

        `verify` is not symmetric (it treats its first argument as the reference, e.g. when simplifying assignments
        such as `x = 2`), so `key_a` should be the reference or the representative of an answer class.

        Args:
            key_a (`Any`):
                Reference-side key ([`~MathGrader.gold`] or a `GradedSample.key`).
            key_b (`Any`):
                Other key.

        Returns:
            `bool`: `True` if equivalent; `False` if either key is `None` or the comparison fails or times out.
        """
        if key_a is None or key_b is None:
            return False
        # `verify` only broadcasts over lists, not tuples.
        return bool(self._math_verify.verify(list(key_a), list(key_b), timeout_seconds=self._timeout()))


class CountdownGrader:
    """
    Grader for the embedded Countdown task (`trl_entropy.tasks.countdown`).

    The answer is the completion cleaned as the task's checker does (text from the first `<eos>`/`<pad>` dropped,
    whitespace stripped), kept only when it parses and uses exactly the problem's numbers; its key is the integer
    value of the expression. Correctness is the task's own `score_completion`.

    Majority voting on Countdown therefore votes over the values of valid expressions: `3*7+12` and `12+7*3` are the
    same answer, and malformed expressions or ones using other numbers do not vote.
    """

    def grade(self, completion: str, numbers: list[int], target: int) -> GradedSample:
        """
        Grades one Countdown completion.

        Args:
            completion (`str`):
                Model output following the prompt, for example `"3*7+12"`.
            numbers (`list[int]`):
                Numbers of the problem; each must be used exactly once.
            target (`int`):
                Target value.

        Returns:
            [`GradedSample`]: The cleaned expression and its value (both `None` unless it is valid for these numbers)
            and its correctness.
        """
        # The task module imports torch: loaded on first use, so that importing the evaluator stays light.
        from ..tasks.countdown import score_completion

        answer, key = self.extract(completion, numbers)
        correct = score_completion(completion, numbers, target) == 1.0
        return GradedSample(answer=answer, key=key, correct=correct)

    def extract(self, completion: str, numbers: list[int]) -> tuple[str | None, int | None]:
        """
        Extracts the answer of one Countdown completion, whatever the target.

        Args:
            completion (`str`):
                Model output following the prompt.
            numbers (`list[int]`):
                Numbers of the problem; each must be used exactly once.

        Returns:
            `tuple[str | None, int | None]`: The cleaned expression and its value, `(None, None)` unless it is a valid
            expression over exactly these numbers.
        """
        from ..tasks.countdown import _clean_completion, parse_expression

        if not isinstance(completion, str):
            return None, None
        expression = _clean_completion(completion)
        parsed = parse_expression(expression)
        if parsed is None or sorted(parsed[0]) != sorted(int(n) for n in numbers):
            return None, None
        return expression, parsed[1]

    def equivalent(self, key_a: Any, key_b: Any) -> bool:
        """
        Whether two Countdown answers have the same value.

        Args:
            key_a (`Any`):
                Value of the first expression.
            key_b (`Any`):
                Value of the second expression.

        Returns:
            `bool`: `True` if both keys are values and equal.
        """
        return key_a is not None and key_b is not None and key_a == key_b


class CountdownStepsGrader(CountdownGrader):
    """
    Grader for the step-by-step Countdown task (`trl_entropy.tasks.countdown_steps`).

    The answer of a completion is its trace (text from the first `<eos>`/`<pad>` dropped), kept only when every step
    is valid for the problem's numbers and the steps leave one number; its key is that final number, whatever the
    target. Correctness is the task's own `score_completion`. So `7*5=35,35-3=32,32-2=30` and `2+3=5,7*5=35,35-5=30`
    are the same answer (30); invalid traces do not vote.
    """

    def grade(self, completion: str, numbers: list[int], target: int) -> GradedSample:
        """
        Grades one Countdown-steps completion.

        Args:
            completion (`str`):
                Model output following the prompt, for example `"7*5=35,35-3=32,32-2=30"`.
            numbers (`list[int]`):
                Numbers of the problem.
            target (`int`):
                Number the last step must leave.

        Returns:
            [`GradedSample`]: The trace and its final number (both `None` unless the trace is valid) and its
            correctness.
        """
        from ..tasks.countdown_steps import score_completion

        answer, key = self.extract(completion, numbers)
        return GradedSample(answer=answer, key=key, correct=score_completion(completion, numbers, target) == 1.0)

    def extract(self, completion: str, numbers: list[int]) -> tuple[str | None, int | None]:
        """
        Extracts the answer of one Countdown-steps completion, whatever the target.

        Args:
            completion (`str`):
                Model output following the prompt.
            numbers (`list[int]`):
                Numbers of the problem.

        Returns:
            `tuple[str | None, int | None]`: The trace and the number it ends with, `(None, None)` unless it is a
            valid trace over exactly these numbers.
        """
        from ..tasks.countdown import _cut_at_special_tokens
        from ..tasks.countdown_steps import final_number

        final = final_number(completion, numbers)
        return (None, None) if final is None else (_cut_at_special_tokens(completion), final)


def cluster_answers(keys: Sequence[Any | None], equivalent: Callable[[Any, Any], bool]) -> list[int | None]:
    """
    Groups answer keys into classes of equivalent answers, greedily.

    Keys are visited in order; each non-`None` key joins the first existing class whose representative (its first
    member) is equivalent to it, and otherwise starts a new class. `equivalent` is called as
    `equivalent(representative, key)`. With a transitive equivalence this is the exact partition; with a
    non-transitive one (numeric tolerance) the result depends on the order of the keys.

    Args:
        keys (`Sequence[Any | None]`):
            Answer keys of one problem's samples, `None` where no answer was extracted.
        equivalent (`Callable[[Any, Any], bool]`):
            Equivalence test, for example a grader's `equivalent`.

    Returns:
        `list[int | None]`: Class index of each key (classes numbered from 0 in order of first appearance), `None`
        for `None` keys.
    """
    representatives: list[Any] = []
    labels: list[int | None] = []
    for key in keys:
        if key is None:
            labels.append(None)
            continue
        for index, representative in enumerate(representatives):
            if equivalent(representative, key):
                labels.append(index)
                break
        else:
            labels.append(len(representatives))
            representatives.append(key)
    return labels
