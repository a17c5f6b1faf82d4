# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
r"""The pieces of answer extraction that every grader shares: the graded-sample record, the last `\boxed{}` of a
completion and the bare content of a math-delimited reference.

They live apart from the graders ([`~trl_entropy.eval.answers`]) so that the plain-text grader
([`~trl_entropy.eval.plain_text`]) can build on them while the math grader falls back on it, without either module
importing the other. Nothing here calls `eval`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


# Commands whose braced argument is a final answer. `\fbox` is what some models write instead of `\boxed`.
_BOXED_COMMANDS = ("\\boxed", "\\fbox")


@dataclass(frozen=True)
class GradedSample:
    """Grading of one completion."""

    answer: str | None
    """Printable form of the extracted answer, `None` when no answer could be extracted."""
    key: Any
    """Object answer equivalence is decided on (see the grader's `equivalent`), `None` when there is no answer."""
    correct: bool
    """Whether the completion answers the problem correctly."""


def _braced_argument(text: str, open_index: int) -> str | None:
    # `text[open_index]` is "{"; returns what lies between it and its matching "}", or None if the braces never close
    # (typically a completion cut off by the length limit). A backslash escapes the next character, so `\{` and `\}`
    # (literal braces, as in `\boxed{\{1, 2\}}`) do not count, and neither does the second brace of `\\{`.
    depth = 0
    i = open_index
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[open_index + 1 : i]
        i += 1
    return None


def extract_last_boxed(text: str) -> str | None:
    r"""
    Content of the last complete `\boxed{...}` (or `\fbox{...}`) of a text, found by brace matching.

    Nested braces such as `\boxed{\frac{1}{2}}` are handled; escaped braces (`\{`, `\}`) are literal characters. A
    `\boxed{` whose braces never close (a truncated completion) is skipped in favour of the previous complete one.

    Args:
        text (`str`):
            Text to search, for example a model completion or a reference solution.

    Returns:
        `str | None`: The content between the braces (not stripped), or `None` if the text has no complete boxed
        expression.
    """
    braces = _boxed_openings(text)
    if not braces:
        return None
    content = _braced_argument(text, braces[0])  # the usual case: the last box is complete
    if content is not None or len(braces) == 1:
        return content
    # Earlier boxes: match every brace once (a scan per unclosed box would be quadratic in their number, about 90 s
    # for 10,000 unclosed `\boxed{` in a long completion) and take the last complete one.
    closing = _closing_braces(text, braces[-1])
    for brace in braces[1:]:
        if brace in closing:
            return text[brace + 1 : closing[brace]]
    return None


def _boxed_openings(text: str) -> list[int]:
    # The index of the opening brace of every `\boxed{` / `\fbox{` of a text, last first. Only the braced form
    # counts: the command must be followed by `{`, possibly after spaces.
    braces = []
    for command in _BOXED_COMMANDS:
        start = text.find(command)
        while start != -1:
            after = start + len(command)
            while after < len(text) and text[after] == " ":
                after += 1
            if after < len(text) and text[after] == "{":
                braces.append(after)
            start = text.find(command, start + 1)
    return sorted(braces, reverse=True)


def _closing_braces(text: str, begin: int) -> dict[int, int]:
    # Index of the matching "}" of every "{" from `begin` on that closes, with the escapes of `_braced_argument`;
    # a "}" with nothing open is ignored, as `_braced_argument` never sees one.
    closing, open_braces = {}, []
    i = begin
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            open_braces.append(i)
        elif char == "}" and open_braces:
            closing[open_braces.pop()] = i
        i += 1
    return closing


def _strip_math_delimiters(text: str) -> str:
    # Reference answers come as "0.5", "$0.5$", "$$0.5$$", "\(0.5\)" or "\[0.5\]"; the bare content is parsed.
    text = text.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(text) >= len(left) + len(right) and text.startswith(left) and text.endswith(right):
            return text[len(left) : len(text) - len(right)].strip()
    return text
