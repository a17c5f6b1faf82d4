# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
r"""Plain-text final answers: extraction from natural-language completions and exact numeric comparison.

Small instruct models often end with plain text ("The answer is 12", "#### 1,234", "... = 3/4.") instead of a
`\boxed{}`. This module reads such answers with a hand-written parser: a candidate is found by regular expressions
over ASCII digits only, validated as a whole, and converted with `fractions.Fraction`. Nothing here calls `eval`,
sympy or math-verify, so model output is never evaluated.

Extraction order (see [`extract_plain_answer`]): the last `\boxed{}` (content parsed as a number when it is one),
else the number after the last answer marker (`####`, "answer is", "answer:", "final answer"), else the last number of
the text. A number is an optional sign, digits with optional thousands separators (`1,234`, groups of exactly three),
an optional decimal part (`12.5`) or an integer fraction (`3/4`). Numbers glued to letters, to other digits through
`,` `.` `/`, or to `*` and `^` (exponent towers such as `9**9**9`, scientific notation such as `1e999999`) are not
read.

Bounded work: only the last [`MAX_SCAN_CHARS`] characters of a completion are scanned (the final answer is at the
end), and a number of more than [`MAX_DIGITS`] digits is rejected, so the cost of one extraction is linear in at most
`MAX_SCAN_CHARS` characters whatever the input (megabytes of digits, deep parentheses, NUL bytes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from .extraction import GradedSample, _strip_math_delimiters, extract_last_boxed


MAX_SCAN_CHARS = 4096
"""Characters scanned from the end of a completion (and the longest answer or reference string parsed)."""
MAX_DIGITS = 64
"""Most digits a number may have (integer, decimal and denominator digits together); longer ones are not read."""

_SIGN = r"[-+\u2212]?"
# Thousands-separated integer (groups of exactly three) or a plain digit run; ASCII digits only.
_INTEGER = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)"
_NUMBER = rf"{_SIGN}{_INTEGER}(?:\.[0-9]+|\s*/\s*[0-9]+)?"
# A number standing alone: not part of a word, of a longer number (`1,2`, `1.2.3`, `3/4/2020`) or of a power.
# `**12**` (markdown bold) is read, `9**9` and `2^10` are not.
_BEFORE = r"(?<![\w.,/^])(?<![\w)]\*)(?<![\w)]\*\*)"
_AFTER = r"(?![\w^]|[.,/][0-9]|(?:\*\*?|\^)[\w(])"
_NUMBER_RE = re.compile(rf"{_BEFORE}{_NUMBER}{_AFTER}")
_WHOLE_NUMBER_RE = re.compile(rf"{_NUMBER}")
# Answer markers; the number must follow within a few formatting characters (`:`, `$`, `**`, `\(`, spaces).
_MARKER_RE = re.compile(r"####|\banswer\s*(?:is|:|=|of)|\bfinal answer\b", re.IGNORECASE)
_MARKER_GAP = re.compile(r"[\s:=*$\\(]{0,12}")
_LATEX_FRACTION_RE = re.compile(r"([-+\u2212]?)\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}")


def _digit_count(text: str) -> int:
    return sum(char in "0123456789" for char in text)


def parse_number(text: str) -> Fraction | None:
    r"""
    Exact value of a text that is a number, by a hand-written parser (no `eval`, no sympy).

    Accepted: an optional sign (`-`, `+`, `−`), an integer with optional thousands separators (`1,234`; also LaTeX's
    `1{,}234` and `1\,234`), an optional decimal part, or an integer fraction (`3/4`, `\frac{3}{4}`); around it math
    delimiters (`$...$`), a leading currency `$`, a trailing `%` is *not* dropped (it changes the value) and a
    trailing period is. At most [`MAX_DIGITS`] digits.

    Args:
        text (`str`):
            The candidate answer, for example `"1,234"`, `"-0.75"` or `"3/4"`.

    Returns:
        `Fraction | None`: The value, or `None` when the text is not exactly one such number (or divides by zero).
    """
    if not isinstance(text, str) or len(text) > MAX_SCAN_CHARS:
        return None
    text = _strip_math_delimiters(text)
    text = text.replace("{,}", ",").replace("\\,", ",").replace("\\!", "").strip()
    if text.startswith("\\$"):
        text = text[2:]
    text = text.lstrip("$").strip()
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1].rstrip()
    fraction = _LATEX_FRACTION_RE.fullmatch(text)
    if fraction is not None:
        sign, numerator, denominator = fraction.groups()
        text = f"{sign}{numerator.strip()}/{denominator.strip()}"
    if _WHOLE_NUMBER_RE.fullmatch(text) is None or _digit_count(text) > MAX_DIGITS:
        return None
    text = text.replace("\u2212", "-").replace(",", "").replace(" ", "")
    if "/" in text:
        numerator, denominator = text.split("/")
        if int(denominator) == 0:
            return None
        return Fraction(int(numerator), int(denominator))
    return Fraction(text)


def _number_after(text: str, position: int) -> str | None:
    # The number that follows an answer marker ending at `position`, after a few formatting characters.
    gap = _MARKER_GAP.match(text, position)
    match = _NUMBER_RE.match(text, gap.end())
    return None if match is None else match.group(0)


def extract_plain_answer(text: str) -> str | None:
    r"""
    Final answer of a plain-text completion, as a string that [`parse_number`] reads.

    Order: the number right after the last answer marker (`#### 12`, `The answer is 12`, `Answer: $1,234$`,
    `final answer: -3/4`), else the last standalone number of the text (`... so she pays 12.`, `x = 0.75`). Only the
    last [`MAX_SCAN_CHARS`] characters are scanned; numbers of more than [`MAX_DIGITS`] digits are skipped. This does
    not look at `\boxed{}` (see [`PlainTextGrader`], which does first).

    Args:
        text (`str`):
            Model output.

    Returns:
        `str | None`: The answer as written (e.g. `"1,234"`, `"3/4"`), or `None` when the text has no readable number.
    """
    if not isinstance(text, str):
        return None
    text = text[-MAX_SCAN_CHARS:]
    for marker in reversed(list(_MARKER_RE.finditer(text))):
        answer = _number_after(text, marker.end())
        if answer is not None and parse_number(answer) is not None:
            return answer
        # Only the last marker counts: an earlier "answer is" belongs to an earlier, revised attempt.
        break
    for match in reversed(list(_NUMBER_RE.finditer(text))):
        if parse_number(match.group(0)) is not None:
            return match.group(0)
    return None


def _normalized(text: str) -> str:
    # Key of a non-numeric answer: compared as a string without spaces and math delimiters.
    return "".join(_strip_math_delimiters(text).split())


def answer_key(answer: str) -> Fraction | str:
    """
    Key of an answer string: its exact value when it is a number ([`parse_number`]), else its text without spaces.

    Args:
        answer (`str`):
            An extracted or reference answer.

    Returns:
        `Fraction | str`: The key; two answers are equivalent when their keys are equal.
    """
    value = parse_number(answer)
    return value if value is not None else _normalized(answer[:MAX_SCAN_CHARS])


class PlainTextGrader:
    r"""
    Grader for numeric answers written in `\boxed{}` or in plain text, with exact numeric equality.

    The answer of a completion is the content of its last complete `\boxed{}` (see `extract_last_boxed`), else the
    plain-text final answer ([`extract_plain_answer`]). Its key is its exact value ([`parse_number`]: `12`, `12.0`
    and `12.` are equal, `1,200` equals `1200`, `3/4` equals `0.75`, `1,2` is not a number), or for a non-numeric
    boxed answer its text without spaces. The reference is read the same way (bare, in `$...$` or in `\boxed{}`).
    No `eval`, no sympy, no math-verify: safe on any input, in any thread.

    Args:
        extractor (`Callable[[str], str | None]` or `None`, *optional*, defaults to `None`):
            Replaces the extraction: called on the completion text, returns the answer string or `None`.
    """

    def __init__(self, extractor=None):
        self.extractor = extractor

    def extract(self, completion: str) -> tuple[str | None, Any]:
        """
        The answer of a completion and its key, `(None, None)` when it has none.

        Args:
            completion (`str`):
                Model output.

        Returns:
            `tuple[str | None, Fraction | str | None]`: The printable answer and its key.
        """
        if not isinstance(completion, str):
            return None, None
        if self.extractor is not None:
            answer = call_extractor(self.extractor, completion)
        else:
            boxed = extract_last_boxed(completion[-MAX_SCAN_CHARS:])
            answer = boxed.strip() if boxed is not None and boxed.strip() else extract_plain_answer(completion)
        if answer is None:
            return None, None
        return answer, answer_key(answer)

    def gold(self, reference: str) -> Fraction | str:
        r"""Key of a reference answer (bare, in `$...$` or in `\boxed{}`)."""
        text = str(reference).strip()
        boxed = extract_last_boxed(text)
        return answer_key(boxed.strip() if boxed is not None else text)

    def grade(self, completion: str, reference: str) -> GradedSample:
        """
        Extracts the answer of a completion and compares its value with the reference's.

        Args:
            completion (`str`):
                Model output.
            reference (`str`):
                Reference answer.

        Returns:
            [`GradedSample`]: The answer (`None` if none), its key and its correctness.
        """
        answer, key = self.extract(completion)
        if key is None:
            return GradedSample(answer=None, key=None, correct=False)
        return GradedSample(answer=answer, key=key, correct=self.equivalent(self.gold(reference), key))

    def equivalent(self, key_a: Any, key_b: Any) -> bool:
        """Whether two keys are the same value (or the same non-numeric text); `False` when either is `None`."""
        if key_a is None or key_b is None or type(key_a) is not type(key_b):
            return False
        return key_a == key_b


def call_extractor(extractor, completion: str) -> str | None:
    """
    Calls a user answer extractor and checks what it returns.

    Args:
        extractor (`Callable[[str], str | None]`):
            Function of the completion text.
        completion (`str`):
            Model output.

    Returns:
        `str | None`: The answer, `None` for an empty one.

    Raises:
        `TypeError`: When the extractor returns something other than a string or `None`.
    """
    answer = extractor(completion)
    if answer is None:
        return None
    if not isinstance(answer, str):
        raise TypeError(f"answer extractor {extractor!r} must return a string or None, got {type(answer).__name__}.")
    return answer.strip() or None


def plain_answer_reward(completions: list, answer: Sequence[str] | None = None, **kwargs) -> list[float]:
    r"""
    TRL reward function: 1.0 when a completion's final answer (`\boxed{}` first, else plain text such as "The answer
    is 12") equals the reference numerically ([`PlainTextGrader`]), else 0.0.

    The reference is the `answer` column, else a `solution` column (its last `\boxed{}` or the whole text). Logged by
    TRL as `rewards/plain_answer_reward/mean`.

    Args:
        completions (`list`):
            Completions, as strings or as conversations (the last message's content is graded).
        answer (`Sequence[str]`, *optional*):
            Reference answers, one per completion.

    Returns:
        `list[float]`: One reward per completion.
    """
    references = answer if answer is not None else kwargs.get("solution")
    if references is None:
        raise ValueError("`plain_answer_reward` needs an `answer` (or `solution`) column in the dataset.")
    grader = PlainTextGrader()
    rewards = []
    for completion, reference in zip(completions, references, strict=True):
        if not isinstance(completion, str):
            completion = completion[-1]["content"] if completion else ""
        rewards.append(1.0 if grader.grade(completion, str(reference)).correct else 0.0)
    return rewards
