# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The plain-text answer extractor, its numeric parser, its grader and reward, and a fuzz run."""

import random
import string
import time
from fractions import Fraction

import pytest

from trl_entropy.eval.plain_text import (
    MAX_DIGITS,
    MAX_SCAN_CHARS,
    PlainTextGrader,
    answer_key,
    extract_plain_answer,
    parse_number,
    plain_answer_reward,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is 12", "12"),
        ("So the answer is 12.", "12"),
        ("The final answer is: 7 apples.", "7"),
        ("Answer: $1,234$", "1,234"),
        ("Answer: **-3/4**", "-3/4"),
        ("Work...\n#### 1,200", "1,200"),
        ("#### 72\n", "72"),
        ("Adding them up, 5 + 7 = 12.", "12"),
        ("She pays $1,234.50 in total.", "1,234.50"),
        ("x = -0.75", "-0.75"),
        ("Half of the pie: 3/4", "3/4"),
        ("The answer is \u22125", "\u22125"),
        ("The answer is 7. Then more text with 8", "7"),
        ("3 apples and 4 pears, 7 fruits in all", "7"),
    ],
)
def test_extracts_plain_answers(text, expected):
    assert extract_plain_answer(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no digits here",
        "1,2",  # not a thousands-separated number
        "12,34",
        "1.2.3",
        "3/4/2020",
        "9**9**9",
        "2^10",
        "1e999999",
        "x2 and y3",
        "\u0661\u0662",  # Arabic-Indic digits are not read
        "1" * (MAX_DIGITS + 1),
        "The answer is 1/0",
        "__import__('os').system('ls')",
    ],
)
def test_rejects_non_answers(text):
    assert extract_plain_answer(text) is None


def test_only_the_end_is_scanned():
    assert extract_plain_answer("The answer is 5." + " filler" * (MAX_SCAN_CHARS // 7 + 10)) is None
    assert extract_plain_answer("x" * 10_000_000 + " The answer is 5.") == "5"


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("12", "12.0", True),
        ("12", "12.", True),
        ("1,200", "1200", True),
        ("3/4", "0.75", True),
        ("-3/4", "-0.75", True),
        ("\\frac{3}{4}", "0.75", True),
        ("-\\dfrac{1}{2}", "-0.5", True),
        ("$1{,}234$", "1234", True),
        ("\u22125", "-5", True),
        ("+5", "5", True),
        ("12", "13", False),
        ("1,2", "12", False),
        ("0.1", "1/10", True),
    ],
)
def test_numeric_equality(a, b, equal):
    grader = PlainTextGrader()
    assert grader.equivalent(answer_key(a), answer_key(b)) is equal


@pytest.mark.parametrize("text", ["1e5", "9**9", "1_000", "0x10", "1/0", "nan", "inf", "(1)", "\u0661", "1\x00"])
def test_parse_number_rejects(text):
    assert parse_number(text) is None


def test_parse_number_values():
    assert parse_number("1,234.5") == Fraction(2469, 2)
    assert parse_number("3 / 4") == Fraction(3, 4)
    assert parse_number("$-12$") == -12


def test_grader_boxed_first_then_plain():
    grader = PlainTextGrader()
    assert grader.grade("The answer is 3. \\boxed{4}", "4").correct
    assert grader.grade("So we get 1,200 in all.", "$1200$").correct
    assert grader.grade("#### 0.75", "\\boxed{\\frac{3}{4}}").correct
    assert not grader.grade("The answer is 13", "12").correct
    sample = grader.grade("I do not know.", "12")
    assert sample.answer is None and sample.key is None and not sample.correct
    # A non-numeric boxed answer is compared as text.
    assert grader.grade("\\boxed{x + 1}", "x+1").correct


def test_grader_with_extractor():
    grader = PlainTextGrader(extractor=lambda text: text.split("ANS=")[-1] if "ANS=" in text else None)
    assert grader.grade("blah ANS=1,000", "1000").correct
    assert grader.grade("The answer is 1000", "1000").answer is None
    with pytest.raises(TypeError, match="must return a string or None"):
        PlainTextGrader(extractor=lambda text: 5).grade("x", "5")


def test_plain_answer_reward():
    completions = ["The answer is 12.", [{"role": "assistant", "content": "#### 7"}], "\\boxed{3}", "no idea"]
    assert plain_answer_reward(completions, answer=["12", "8", "3", "1"]) == [1.0, 0.0, 1.0, 0.0]
    assert plain_answer_reward(["= 5"], solution=["5"]) == [1.0]
    with pytest.raises(ValueError, match="answer"):
        plain_answer_reward(["5"])


def test_reward_is_a_builtin_recipe_name():
    pytest.importorskip("trl")
    from trl_entropy.scripts.train import resolve_reward_funcs

    assert resolve_reward_funcs(["plain_answer"]) == [plain_answer_reward]


def test_math_grader_plain_text_fallback():
    pytest.importorskip("math_verify")
    from trl_entropy.eval.answers import MathGrader

    grader = MathGrader(plain_text=True)
    assert grader.grade("The answer is 12", "12").correct
    assert grader.grade("so it is 3/4.", "0.75").correct
    assert grader.grade("#### -1,200", "-1200").correct
    assert not grader.grade("The answer is 13", "12").correct
    assert grader.grade("nothing", "1").answer is None
    # Without the option a plain-text answer is no answer.
    assert MathGrader().grade("The answer is 12", "12").answer is None
    # An extractor replaces the extraction; its answer is parsed as LaTeX.
    extractor_grader = MathGrader(extractor=lambda text: text.rsplit(":", 1)[-1])
    assert extractor_grader.grade("result: \\frac{1}{2}", "0.5").correct


ADVERSARIAL = [
    "__import__('os').system('rm -rf /')",
    "().__class__.__bases__[0].__subclasses__()",
    "The answer is __import__('os')",
    "#### eval('1+1')",
    "import os; os.system('echo hi')  # 3",
    "lambda: 1",
    "9**9**9",
    "The answer is 9**9**9**9",
    "2^2^2^2^2^2",
    "1e999999",
    "The answer is 1e999999",
    "#### 1E-99999999",
    "(" * 100_000 + "1" + ")" * 100_000,
    "The answer is " + "(" * 50_000,
    "{" * 100_000 + "\\boxed{" * 10_000,
    "\\boxed{" + "{" * 50_000 + "1" + "}" * 50_000 + "}",
    "9" * 1_000_000,
    "The answer is " + "1" * 1_000_000,
    "1," * 500_000,
    "#### " + ",000" * 100_000,
    "0." + "0" * 200_000 + "1",
    "1/" * 100_000,
    "\x00" * 10_000 + "The answer is 1\x00",
    "The answer is 1\x002",
    "\u0661\u0662\u0663",  # Arabic-Indic digits
    "\uff11\uff12",  # fullwidth digits
    "The answer is \u00bd",
    "\ud800",  # lone surrogate
    " " * 1_000_000 + "1",
    "1" + " " * 1_000_000 + "/ 2",
    "answer is " * 100_000,
    "#### " * 100_000 + "5",
    "$" * 100_000 + "5",
    "\\frac{" * 10_000 + "1}{2}",
    "-" * 100_000 + "5",
    "nan",
    "inf",
    "-inf",
    "1/0",
    "0/0",
]


def _random_strings(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    pieces = [
        "The answer is ",
        "#### ",
        "Answer: ",
        "final answer",
        "= ",
        "\\boxed{",
        "}",
        "\\frac{",
        "$",
        "**",
        "^",
        "/",
        ",",
        ".",
        "-",
        "e",
        "(",
        ")",
        "__import__",
        "\x00",
        "\u0661",
        "\u2212",
    ]
    alphabet = string.printable + "\u0661\u00bd\u2212\x00"
    strings = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(0, 12)):
            choice = rng.random()
            if choice < 0.4:
                parts.append(rng.choice(pieces))
            elif choice < 0.8:
                parts.append(str(rng.randint(-(10**6), 10**6)))
            else:
                parts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20))))
        strings.append("".join(parts))
    return strings


def test_fuzz_no_crash_and_bounded_time():
    """
    20,000 random strings (seed 0: answer markers, numbers, LaTeX pieces, operators, NUL bytes, non-ASCII digits) and
    the 40 adversarial ones above (code, dunder names, exponent towers, `1e999999`, 100,000 nested parentheses,
    megabytes of digits, NUL bytes, unicode digits, lone surrogates), each through `extract_plain_answer`,
    `parse_number` and `PlainTextGrader.grade`: no exception, and every extracted answer parses. Measured on 2 shared
    CPU cores: about 1.2 s in all; the bound asserted is 10 s.
    """
    grader = PlainTextGrader()
    inputs = _random_strings(20_000, seed=0) + ADVERSARIAL
    start = time.perf_counter()
    answered = 0
    for text in inputs:
        answer = extract_plain_answer(text)
        if answer is not None:
            answered += 1
            assert parse_number(answer) is not None
        parse_number(text)
        grader.grade(text, "12")
    elapsed = time.perf_counter() - start
    assert len(inputs) == 20_040
    assert 0 < answered < len(inputs)
    assert elapsed < 10.0, f"{len(inputs)} fuzz inputs took {elapsed:.1f} s"


def test_only_canonical_numbers_reach_math_verify_on_the_plain_path():
    """With `plain_text=True`, a plain-text answer reaches math-verify only as digits, a sign and `\\frac{p}{q}`
    built from the exact value, never as the model's text (the random strings and the adversarial ones above)."""
    pytest.importorskip("math_verify")
    import re

    from trl_entropy.eval.answers import MathGrader

    grader = MathGrader(plain_text=True)
    seen = []
    grader.answer_key = lambda answer: seen.append(answer) or (answer,)
    grader._parse = lambda text, config: []  # no LaTeX answer: every completion takes the plain path
    # Texts with a box take the boxed path, not this one (and math-verify's path scans all their boxes).
    for text in _random_strings(2_000, seed=1) + ADVERSARIAL:
        if "\\boxed" not in text and "\\fbox" not in text:
            grader.extract(text)
    assert seen and all(re.fullmatch(r"-?[0-9]+|-?\\frac\{[0-9]+\}\{[0-9]+\}", answer) for answer in seen)
