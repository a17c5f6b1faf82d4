"""Countdown in steps: a verifiable arithmetic task whose every character has an exact set of viable continuations.

A problem shows four numbers in `1..9` and a target, e.g. `"3 5 7 2=30:"`. The completion combines two of the numbers
still available per step and writes the step with its result, steps joined by `,`, until one number is left, which
must be the target; then EOS. So every correct completion has exactly three steps, e.g. `"7*5=35,35-3=32,32-2=30"`.

Rules:

- Operators `+`, `-` and `*`. No division: exact integer division would add a divisibility rule for the model to
  learn (and `a/b` with a remainder to reject) for 13% more problems (22,938 reachable (multiset, target) pairs
  instead of 20,348, measured once with division added to the solver); leaving it out also keeps the operator set
  of `trl-entropy/countdown`.
- Every intermediate result is a non-negative integer of at most `MAX_RESULT` (99): subtraction needs `a >= b`, and
  no step may exceed the cap. The cap keeps the arithmetic to two-digit numbers, for the 0.8M-parameter
  character-level policies, and bounds a completion at `MAX_COMPLETION_CHARS` (22) characters.
- `a+b` and `b+a` (likewise `*`) are distinct traces; a step is a text, so with equal numbers `3+3=6` is one trace.
- Strict format: no spaces, no leading zeros, nothing else; the text from the first `<eos>`/`<pad>` on is ignored.

The problems are every (multiset of four numbers in `1..9`, target in `1..99`) pair with at least one correct trace:
20,348 problems over the 495 multisets, 16,173 in the train split and 4,175 in the test split. Target 0 is left out
because 485 of the 495 multisets reach it by cancelling (`x-x=0`, then `0*y=0`), a shortcut that ignores the target.
No minimum trace count is imposed: only 0.4% of the problems have a single trace. Figures from
`python -m trl_entropy.tasks.countdown_steps` ([`task_statistics`]):

- correct traces per problem: min 1, median 16, mean 22.45, max 220; 99.6% of the problems have at least 2 and 63.6%
  at least 10;
- correct completions are 17 to 22 characters long (4 uniformly drawn traces per problem: median 20, mean 20.2);
- over those traces' positions (EOS included), 16.2% are decisions and 83.8% forced.

Exact labels ([`viable_next`], [`label_completion`], [`label_batch`]): after any completion prefix, the set of next
characters (EOS included) from which a correct completion is still reachable is computed exactly from memoised solver
states. A position with two or more viable characters is a `DECISION`, one a `FORCED` position (e.g. the digits of a
result), none `DEAD` (the prefix can no longer be completed correctly).

Everything is deterministic and offline: the problem set is enumerated exhaustively, the train/test split is a fixed
SHA-256 hash of the canonical problem key (salted differently from `trl-entropy/countdown`'s), and completions are
checked by a hand-written parser (never `eval`).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import random
import statistics
import weakref
from collections import Counter
from typing import Any

import torch

# The prompt format, the operators and the special-token texts are countdown's.
from .countdown import EOS_TEXT, OPERATORS, _cut_at_special_tokens, _score_batch, format_prompt
from .names import STEPS_DATASET_NAME, TINY_STEPS_POLICY_NAME, TINY_STEPS_POLICY_PATH  # noqa: F401 (re-exported)
from .splits import SPLITS, TEST_FRACTION, ProblemSplits  # noqa: F401 (re-exported)


MIN_NUMBER = 1
MAX_NUMBER = 9
NUM_NUMBERS = 4
# Largest result a step may write (and so the largest target).
MAX_RESULT = 99
MIN_TARGET = 1
# Prefix of the hashed key, so that this task's split is its own and not a reshuffle of countdown's.
SPLIT_SALT = "countdown-steps:"
STEP_SEPARATOR = ","
# Every character a prompt or a completion can contain (EOS aside).
CHARACTERS = tuple("0123456789+-*=:, ")
# Longest correct completion, without EOS: a first step over two inputs is at most 6 characters ("9*9=81"), and the
# other two steps at most 7 + 7 or 6 + 8 ("9*9=81,81+9=90,90-9=81"); tests check it against the solver.
MAX_COMPLETION_CHARS = 22

# Position classes of a label (the count of viable next characters); padding keeps its label, -1.
DEAD = 0
FORCED = 1
DECISION = 2
PADDING = -1

# A token that no step text contains: special tokens other than EOS inside a completion make the prefix dead.
_NOT_A_CHARACTER = "\x00"
_DIGITS = "0123456789"
# Digits beyond any valid number: the parser gives up on them before converting, which keeps garbage cheap.
_MAX_DIGITS = 6


# ---------------------------------------------------------------------------------------------------------------------
# Parsing and scoring
# ---------------------------------------------------------------------------------------------------------------------


def _parse_number(text: str, start: int) -> tuple[int, int] | None:
    # (value, end) of the number at `start`: one spelling per value, so no leading zeros.
    end = start
    while end < len(text) and text[end] in _DIGITS:
        end += 1
    digits = text[start:end]
    if not digits or len(digits) > _MAX_DIGITS or (len(digits) > 1 and digits[0] == "0"):
        return None
    return int(digits), end


def parse_steps(text: str) -> list[tuple[int, str, int, int]] | None:
    """
    Parses a step-by-step completion, without checking its arithmetic or the numbers it uses.

    The grammar is `STEP ("," STEP)*` with `STEP = NUMBER OP NUMBER "=" NUMBER`, `OP` one of `+ - *` and `NUMBER` a
    non-negative integer without leading zeros. Nothing else is allowed: no spaces, no signs, no empty step.

    Args:
        text (`str`):
            Completion text without EOS, for example `"7*5=35,35-3=32,32-2=30"`.

    Returns:
        `list[tuple[int, str, int, int]] | None`: The steps as `(left, operator, right, result)`, in order, or `None`
        if the text does not follow the grammar.
    """
    if not isinstance(text, str):
        return None
    steps = []
    for step_text in text.split(STEP_SEPARATOR):
        left = _parse_number(step_text, 0)
        if left is None or left[1] >= len(step_text) or step_text[left[1]] not in OPERATORS:
            return None
        operator = step_text[left[1]]
        right = _parse_number(step_text, left[1] + 1)
        if right is None or step_text[right[1] : right[1] + 1] != "=":
            return None
        result = _parse_number(step_text, right[1] + 1)
        if result is None or result[1] != len(step_text):
            return None
        steps.append((left[0], operator, right[0], result[0]))
    return steps


def _apply(left: int, operator: str, right: int) -> int | None:
    # The result of a step under the task's rules, or None when the step is not allowed.
    if operator == "+":
        result = left + right
    elif operator == "*":
        result = left * right
    elif left >= right:
        result = left - right
    else:
        return None
    return result if result <= MAX_RESULT else None


def score_completion(completion: str, numbers: list[int], target: int) -> float:
    """
    Scores one completion of a Countdown-steps problem.

    Args:
        completion (`str`):
            Model output following the prompt, for example `"7*5=35,35-3=32,32-2=30"`. Anything from the first
            `<eos>`/`<pad>` text onwards is ignored; nothing else is (no whitespace is stripped).
        numbers (`list[int]`):
            Numbers of the problem; each step consumes two of the numbers still available and adds its result.
        target (`int`):
            Number that must be the only one left after the last step.

    Returns:
        `float`: `1.0` if every step is well-formed, uses two numbers currently available, has the right result
        within the rules (non-negative, at most `MAX_RESULT`) and the last step leaves exactly the target; `0.0`
        otherwise (including any malformed output).
    """
    final = final_number(completion, numbers)
    return 1.0 if final is not None and final == int(target) else 0.0


def final_number(completion: str, numbers: list[int]) -> int | None:
    """
    The number a valid trace ends with, whatever the target (the answer for majority voting and semantic entropy).

    Args:
        completion (`str`):
            Model output following the prompt; anything from the first `<eos>`/`<pad>` text onwards is ignored.
        numbers (`list[int]`):
            Numbers of the problem.

    Returns:
        `int | None`: The one number left after the last step, or `None` unless every step is well-formed, uses two
        numbers then available, has the right result within the rules, and the steps leave exactly one number.
    """
    if not isinstance(completion, str):
        return None
    steps = parse_steps(_cut_at_special_tokens(completion))
    if steps is None or len(steps) != len(numbers) - 1:
        return None
    available = Counter(int(n) for n in numbers)
    for left, operator, right, result in steps:
        available[left] -= 1
        available[right] -= 1
        if available[left] < 0 or available[right] < 0 or _apply(left, operator, right) != result:
            return None
        available[result] += 1
    return steps[-1][3]


def countdown_steps_reward(
    prompts: list[Any], completions: list[Any], numbers: list[list[int]], target: list[int], **kwargs: Any
) -> list[float]:
    """
    TRL reward function for Countdown-steps: 1.0 for a correct trace, 0.0 otherwise.

    TRL calls it like `trl_entropy.tasks.countdown.countdown_reward`, with keyword arguments only; the extras it adds
    (`completion_ids`, `trainer_state`, ...) are ignored.

    Args:
        prompts (`list`):
            Unused: TRL passes the prompts to every reward function.
        completions (`list[str]` or `list[list[dict]]`):
            One completion per row: a string, or conversational messages whose last content is scored.
        numbers (`list[list[int]]`):
            The `numbers` column: each row's four numbers.
        target (`list[int]`):
            The `target` column.

    Returns:
        `list[float]`: [`score_completion`] of each completion.
    """
    return _score_batch(score_completion, completions, numbers, target)


# TRL logs each reward under `rewards/<__name__>/mean`.
countdown_steps_reward.__name__ = "countdown_steps_reward"


# ---------------------------------------------------------------------------------------------------------------------
# Solver: states are sorted tuples of the numbers still available
# ---------------------------------------------------------------------------------------------------------------------

# Bounds of the memos. The whole problem set reaches 3,470 states; the larger memos are keyed on states with targets
# (and prefixes), of which a training run meets a small part.
_STATE_MEMO_SIZE = 1 << 16
_TARGET_MEMO_SIZE = 1 << 18


def _state_of(numbers: list[int]) -> tuple[int, ...]:
    state = tuple(sorted(int(n) for n in numbers))
    if len(state) < 2:
        raise ValueError(f"A problem needs at least two numbers, got {list(numbers)}.")
    return state


@functools.lru_cache(maxsize=_STATE_MEMO_SIZE)
def _steps(state: tuple[int, ...]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    # Every allowed step from `state` as (text, next state), one per distinct text, sorted by text.
    steps = {}
    for i, j in itertools.permutations(range(len(state)), 2):
        left, right = state[i], state[j]
        rest = [n for k, n in enumerate(state) if k not in (i, j)]
        for operator in OPERATORS:
            result = _apply(left, operator, right)
            if result is not None:
                steps.setdefault(f"{left}{operator}{right}={result}", tuple(sorted([*rest, result])))
    return tuple(sorted(steps.items()))


@functools.lru_cache(maxsize=_STATE_MEMO_SIZE)
def _final_counts(state: tuple[int, ...]) -> dict[int, int]:
    # Number of traces from `state` down to one number, by that number. Treated as read-only (it is memoised).
    if len(state) == 1:
        return {state[0]: 1}
    counts: Counter[int] = Counter()
    for _, next_state in _steps(state):
        counts.update(_final_counts(next_state))
    return dict(counts)


@functools.lru_cache(maxsize=_TARGET_MEMO_SIZE)
def _viable_steps(state: tuple[int, ...], target: int) -> dict[str, tuple[int, ...]]:
    # The steps after which the target is still reachable, text -> next state. Read-only (memoised).
    return {text: after for text, after in _steps(state) if _final_counts(after).get(target, 0) > 0}


@functools.lru_cache(maxsize=_TARGET_MEMO_SIZE)
def _viable_chars(state: tuple[int, ...], target: int, partial: str) -> frozenset[str]:
    # Next characters after `partial`, the unfinished step written so far from `state`. No step text is a proper
    # prefix of another (its operands fix its result), so a finished step can only be followed by "," or EOS.
    steps = _viable_steps(state, target)
    chars = {text[len(partial)] for text in steps if len(text) > len(partial) and text.startswith(partial)}
    after = steps.get(partial)
    if after is not None:
        chars.add(STEP_SEPARATOR if len(after) > 1 else EOS_TEXT)
    return frozenset(chars)


def count_solutions(numbers: list[int], target: int) -> int:
    """
    Counts the correct completions of a problem without listing them (memoised over solver states).

    Args:
        numbers (`list[int]`):
            Numbers of the problem, in any order; at least two.
        target (`int`):
            Number the last step must leave.

    Returns:
        `int`: Number of distinct correct completions; `0` if the target is unreachable.
    """
    return _final_counts(_state_of(numbers)).get(int(target), 0)


def _solutions_from(state: tuple[int, ...], target: int) -> list[str]:
    if len(state) == 1:
        return [""]
    return [
        text + ("" if not rest else STEP_SEPARATOR + rest)
        for text, after in _viable_steps(state, target).items()
        for rest in _solutions_from(after, target)
    ]


def solve(numbers: list[int], target: int) -> list[str]:
    """
    Lists every correct completion of a problem, walking the memoised solver states.

    Args:
        numbers (`list[int]`):
            The problem's numbers, in any order.
        target (`int`):
            Number the last step must leave.

    Returns:
        `list[str]`: All correct completions (without EOS), sorted; empty if the target is unreachable.
    """
    return sorted(_solutions_from(_state_of(numbers), int(target)))


def random_solution(numbers: list[int], target: int, rng: random.Random) -> str:
    """
    Draws one correct completion uniformly at random among all of them.

    Each step is drawn with probability proportional to the number of correct traces that continue it, from exact
    integer counts, so every trace has probability exactly `1 / count_solutions(numbers, target)`.

    Args:
        numbers (`list[int]`):
            Numbers of the problem (any order).
        target (`int`):
            Target value.
        rng (`random.Random`):
            Source of randomness.

    Returns:
        `str`: A correct completion, without EOS.

    Raises:
        `ValueError`: If the problem has no correct completion.
    """
    state, target = _state_of(numbers), int(target)
    if _final_counts(state).get(target, 0) == 0:
        raise ValueError(f"No correct completion: {list(numbers)} cannot reach {target}.")
    steps = []
    while len(state) > 1:
        options = list(_viable_steps(state, target).items())
        draw = rng.randrange(sum(_final_counts(after)[target] for _, after in options))
        for text, after in options:
            draw -= _final_counts(after)[target]
            if draw < 0:
                steps.append(text)
                state = after
                break
    return STEP_SEPARATOR.join(steps)


@functools.lru_cache(maxsize=_TARGET_MEMO_SIZE)
def _longest_solution(state: tuple[int, ...], target: int) -> int:
    # Characters of the longest correct completion from `state` (without EOS), -1 when there is none.
    if len(state) == 1:
        return 0 if state[0] == target else -1
    lengths = [
        len(text) + (len(STEP_SEPARATOR) if len(after) > 1 else 0) + _longest_solution(after, target)
        for text, after in _viable_steps(state, target).items()
    ]
    return max(lengths, default=-1)


# ---------------------------------------------------------------------------------------------------------------------
# Exact labels
# ---------------------------------------------------------------------------------------------------------------------


def _walk(numbers: list[int], target: int, tokens) -> tuple[list[int], tuple[tuple[int, ...], str] | None]:
    # Labels of `tokens` (characters, EOS as EOS_TEXT) and where the walk ended: (state, unfinished step), or None
    # once the prefix is dead. Callers stop `tokens` at the first EOS.
    state, target, partial = _state_of(numbers), int(target), ""
    counts = []
    for token in tokens:
        if state is None:
            counts.append(0)
            continue
        viable = _viable_chars(state, target, partial)
        counts.append(len(viable))
        if token not in viable:
            state = None
        elif token == STEP_SEPARATOR:
            state, partial = _viable_steps(state, target)[partial], ""
        else:
            partial += token
    return counts, None if state is None else (state, partial)


def viable_next(numbers: list[int], target: int, prefix: str) -> frozenset[str]:
    """
    The next characters from which a correct completion is still reachable after a completion prefix.

    Args:
        numbers (`list[int]`):
            Numbers of the problem (any order).
        target (`int`):
            Target value.
        prefix (`str`):
            The completion so far, as plain characters (no EOS), e.g. `"7*5="`.

    Returns:
        `frozenset[str]`: The viable next characters, `EOS_TEXT` standing for EOS (viable only right after a
        correct final step). Empty if the prefix is already dead or malformed.

    Example:

    ```python
    >>> viable_next([2, 3, 5, 7], 30, "7*5=")
    frozenset({'3'})
    ```
    """
    _, end = _walk(numbers, target, prefix)
    return frozenset() if end is None else _viable_chars(end[0], int(target), end[1])


def _completion_tokens(completion: str) -> list[str]:
    # The completion as tokens: one per character, the first `<eos>` as one token that ends it; text from the first
    # `<pad>` (padding) or after that EOS is not part of it.
    text = _cut_at_special_tokens(completion)
    ends_with_eos = completion[len(text) :].startswith(EOS_TEXT)
    return [*text, EOS_TEXT] if ends_with_eos else list(text)


def label_completion(numbers: list[int], target: int, completion: str) -> list[int]:
    """
    Labels every position of a completion with its number of viable next characters.

    The completion is read as a token sequence: one token per character, and the first `<eos>` as one token that
    ends it (text after it, or from a first `<pad>` on, is not labelled). The label of position `t` is
    `len(viable_next(numbers, target, prefix))` where `prefix` is the completion before `t`, that is the number of
    choices for the token at `t` that keep a correct completion reachable. Positions with a label of at least 2 are
    `DECISION`s, 1 `FORCED`, 0 `DEAD`.

    Args:
        numbers (`list[int]`):
            Numbers of the problem (any order).
        target (`int`):
            Target value.
        completion (`str`):
            Completion text, optionally followed by `<eos>`, e.g. `"7*5=35,35-3=32,32-2=30<eos>"`.

    Returns:
        `list[int]`: One count per token: `len(text)` labels, plus one for the EOS position when there is one.
    """
    return _walk(numbers, target, _completion_tokens(completion))[0]


def position_classes(counts: torch.Tensor) -> torch.Tensor:
    """
    Maps viable-next counts to position classes.

    Args:
        counts (`torch.Tensor`):
            Counts from [`label_batch`] (any shape), `-1` at padding.

    Returns:
        `torch.Tensor`: Same shape: `DECISION` (2) where the count is at least 2, `FORCED` (1) where it is 1, `DEAD`
        (0) where it is 0, and `PADDING` (-1) kept at padding.
    """
    return counts.clamp(max=DECISION)


# Tokenizer -> (what the table was built for, id -> token text: a task character, EOS_TEXT, None for padding).
_TOKEN_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _token_table(tokenizer) -> list[str | None]:
    built_for = (len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id)
    cached = _TOKEN_TABLES.get(tokenizer)
    if cached is not None and cached[0] == built_for:
        return cached[1]
    if tokenizer.eos_token_id is None:
        raise ValueError("The tokenizer has no EOS token; labels need one to know where a completion ends.")
    special_ids = set(tokenizer.all_special_ids)
    table: list[str | None] = []
    for token_id in range(len(tokenizer)):
        if token_id == tokenizer.eos_token_id:  # first: EOS may double as padding
            table.append(EOS_TEXT)
        elif token_id == tokenizer.pad_token_id:
            table.append(None)
        elif token_id in special_ids:
            table.append(_NOT_A_CHARACTER)
        else:
            text = tokenizer.decode([token_id], clean_up_tokenization_spaces=False)
            if len(text) != 1 or text not in CHARACTERS:
                raise ValueError(
                    f"Labels are defined per character, but token {token_id} of the tokenizer decodes to {text!r}, "
                    f"which is not one character of the task ({''.join(CHARACTERS)!r})."
                )
            table.append(text)
    try:
        _TOKEN_TABLES[tokenizer] = (built_for, table)
    except TypeError:  # not weakly referenceable: rebuild it next time
        pass
    return table


def label_batch(
    numbers: list[list[int]], targets: list[int], completion_ids: torch.Tensor, tokenizer
) -> torch.LongTensor:
    """
    Labels a batch of right-padded completions, as TRL's `GRPOTrainer` holds them, with viable-next counts.

    Row `b` is labelled like [`label_completion`] of its decoded tokens: every position up to and including the first
    EOS gets the number of viable next characters of the prefix before it; positions after the first EOS, and
    padding, get `-1`. The tokenizer's id -> character table is built once per tokenizer (and checked then); solver
    states are memoised, so labelling costs a few dictionary look-ups per position.

    Args:
        numbers (`list[list[int]]`):
            Numbers of each row's problem.
        targets (`list[int]`):
            Target of each row's problem.
        completion_ids (`torch.Tensor`):
            Completion token ids of shape `(B, T)`, right-padded.
        tokenizer (`transformers.PreTrainedTokenizerBase`):
            Tokenizer of the ids: every token other than EOS, padding and other special tokens must decode to one
            character of the task. Special tokens other than EOS inside a completion are never viable.

    Returns:
        `torch.LongTensor`: Counts of shape `(B, T)`, `-1` at padding; [`position_classes`] maps them to classes.

    Raises:
        `ValueError`: If the tokenizer has a token that is not one character of the task, or shapes disagree.
    """
    if completion_ids.dim() != 2:
        raise ValueError(f"`completion_ids` must have shape (B, T), got {tuple(completion_ids.shape)}.")
    if not len(numbers) == len(targets) == completion_ids.size(0):
        raise ValueError(
            f"Got {len(numbers)} `numbers`, {len(targets)} `targets` and {completion_ids.size(0)} completion rows; "
            "one problem per row is needed."
        )
    table = _token_table(tokenizer)
    width = completion_ids.size(1)
    rows = []
    for row_numbers, target, ids in zip(numbers, targets, completion_ids.tolist(), strict=True):
        tokens = []
        for token_id in ids:
            token = table[token_id] if 0 <= token_id < len(table) else _NOT_A_CHARACTER
            if token is None:
                break
            tokens.append(token)
            if token == EOS_TEXT:
                break
        counts = _walk(row_numbers, target, tokens)[0]
        rows.append(counts + [PADDING] * (width - len(counts)))
    return torch.tensor(rows, dtype=torch.long).reshape(completion_ids.shape).to(completion_ids.device)


# ---------------------------------------------------------------------------------------------------------------------
# Problems
# ---------------------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _all_problems() -> dict[tuple[tuple[int, ...], int], int]:
    # Canonical key (sorted numbers, target) -> number of correct traces, for every reachable target in range.
    table = {}
    for multiset in itertools.combinations_with_replacement(range(MIN_NUMBER, MAX_NUMBER + 1), NUM_NUMBERS):
        for target, count in sorted(_final_counts(multiset).items()):
            if target >= MIN_TARGET:
                table[(multiset, target)] = count
    return table


def _make_problem(key: tuple[tuple[int, ...], int], rng: random.Random) -> dict[str, Any]:
    numbers = list(key[0])
    # A random display order, so the model cannot rely on sorted inputs; the key (and so the split) is unchanged.
    rng.shuffle(numbers)
    return {
        "numbers": numbers,
        "target": key[1],
        "prompt": format_prompt(numbers, key[1]),
        "num_solutions": _all_problems()[key],
    }


_PROBLEMS = ProblemSplits("countdown-steps", _all_problems, _make_problem, salt=SPLIT_SALT)


def num_problems(split: str = "train") -> int:
    """
    Number of Countdown-steps problems (canonical keys) in `split` (`"train"` or `"test"`, defaults to `"train"`).
    """
    return len(_PROBLEMS.keys(split))


def generate_problems(n: int, seed: int, split: str = "train") -> list[dict[str, Any]]:
    """
    Draws `n` distinct Countdown-steps problems of a split, deterministically, uniformly without replacement.

    The numbers of each problem are shown in a random order. The splits never share a canonical key (sorted numbers,
    target), whatever the seed; the same `(n, seed, split)` always gives the same list.

    Args:
        n (`int`):
            Number of problems; at most `num_problems(split)`.
        seed (`int`):
            Seed of the draw.
        split (`str`, *optional*, defaults to `"train"`):
            `"train"` or `"test"`.

    Returns:
        `list[dict]`: Problems with keys `numbers` (`list[int]`), `target` (`int`), `prompt` (`str`) and
        `num_solutions` (`int`, the number of correct completions, at least 1).
    """
    return _PROBLEMS.generate(n, seed, split)


def sample_problems(n: int, seed: int, split: str = "train") -> list[dict[str, Any]]:
    """
    Draws `n` Countdown-steps problems of a split with replacement (for streams longer than the split, e.g. SFT
    data), in the format of [`generate_problems`], from the seed `seed`.
    """
    return _PROBLEMS.sample(n, seed, split)


def build_dataset(split: str = "train", n: int | None = None, seed: int = 0):
    """
    Builds the TRL-ready prompt dataset (standard, not conversational) of a split, as [`generate_problems`] draws it.

    Args:
        split (`str`, *optional*, defaults to `"train"`):
            The split to draw from, `"train"` or `"test"`.
        n (`int` or `None`, *optional*, defaults to `None`):
            How many distinct problems; `None` for the whole split, in a seeded random order.
        seed (`int`, *optional*, defaults to `0`):
            Seed of [`generate_problems`].

    Returns:
        `datasets.Dataset`: Columns `prompt` (`str`), `numbers` (`list[int]`, four numbers) and `target` (`int`).
    """
    return _PROBLEMS.dataset(split, n, seed)


# ---------------------------------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------------------------------


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "min": min(values),
        "median": statistics.median(values),
        "mean": round(statistics.fmean(values), 2),
        "max": max(values),
    }


def task_statistics(traces_per_problem: int = 4, seed: int = 0) -> dict[str, Any]:
    """
    Figures of the task quoted in the docs: problem counts, correct traces per problem, completion lengths and the
    share of decision/forced positions over uniformly drawn correct traces (EOS position included).

    Args:
        traces_per_problem (`int`, *optional*, defaults to `4`):
            Correct traces drawn per problem (with [`random_solution`]) for the length and label figures.
        seed (`int`, *optional*, defaults to `0`):
            Seed of those draws.

    Returns:
        `dict`: The figures.
    """
    problems = _all_problems()
    counts = list(problems.values())
    multisets = {numbers for numbers, _ in problems}
    rng = random.Random(f"countdown-steps-statistics-{seed}")
    lengths: list[int] = []
    classes: Counter[int] = Counter()
    for (numbers, target), _ in problems.items():
        for _ in range(traces_per_problem):
            completion = random_solution(list(numbers), target, rng)
            lengths.append(len(completion))
            classes.update(min(count, DECISION) for count in label_completion(numbers, target, completion + EOS_TEXT))
    positions = sum(classes.values())
    return {
        "problems": len(problems),
        "multisets": len(multisets),
        "multisets_reaching_zero": sum(0 in _final_counts(numbers) for numbers in multisets),
        "train_problems": num_problems("train"),
        "test_problems": num_problems("test"),
        "traces_per_problem": {
            **_summary(counts),
            "share_at_least_2": round(sum(c >= 2 for c in counts) / len(counts), 4),
            "share_at_least_10": round(sum(c >= 10 for c in counts) / len(counts), 4),
        },
        "longest_completion_chars": max(_longest_solution(key[0], key[1]) for key in problems),
        "sampled_completion_chars": {**_summary(lengths), "histogram": dict(sorted(Counter(lengths).items()))},
        "sampled_positions": {
            "decision_share": round(classes[DECISION] / positions, 4),
            "forced_share": round(classes[FORCED] / positions, 4),
            "dead_share": round(classes[DEAD] / positions, 4),
        },
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """
    Prints the task's figures as JSON: `python -m trl_entropy.tasks.countdown_steps`.

    Args:
        argv (`list[str]` or `None`, *optional*, defaults to `None`):
            Arguments; `None` reads `sys.argv`.

    Returns:
        `dict`: The figures (see [`task_statistics`]).
    """
    parser = argparse.ArgumentParser(description="Figures of the Countdown-steps task (offline).")
    parser.add_argument("--traces-per-problem", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = task_statistics(args.traces_per_problem, args.seed)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
