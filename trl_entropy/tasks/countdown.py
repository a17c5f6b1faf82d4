"""Countdown: a tiny verifiable arithmetic reasoning task for CPU-sized GRPO runs.

A problem shows three numbers in `1..12` and a target. The answer is an expression that uses every number exactly once,
combined with `+`, `-` and `*` (no parentheses, standard precedence), that evaluates to the target. For example, for
the prompt `"3 7 12=33:"` the completions `"3*7+12"` and `"12+7*3"` are both correct. Most problems have several
correct answers (about 3.6 per problem on average), which gives RL something to explore.

Everything here is deterministic and offline: the problem set is enumerated exhaustively, the train/test split is a
fixed hash of the canonical problem key (independent of any seed), and model outputs are checked with a small
hand-written parser (never `eval`).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import random
from collections.abc import Callable
from typing import Any

import torch

from ..quantization import keep_4bit_training_layout
from ..sampling.backends import eval_mode, generate_hf_texts, seeded_generation
from ..sampling.chunks import chunk_ranges, items_per_chunk
from .names import DATASET_NAME, TINY_POLICY_NAME, TINY_POLICY_PATH  # noqa: F401 (re-exported)
from .splits import SPLITS, TEST_FRACTION, ProblemSplits  # noqa: F401 (re-exported)


MIN_NUMBER = 1
MAX_NUMBER = 12
NUM_NUMBERS = 3
OPERATORS = ("+", "-", "*")
# Special-token texts of the shipped tokenizer; completions decoded without `skip_special_tokens` may contain them.
EOS_TEXT = "<eos>"
PAD_TEXT = "<pad>"


# ---------------------------------------------------------------------------------------------------------------------
# Parsing and scoring
# ---------------------------------------------------------------------------------------------------------------------


def parse_expression(text: str) -> tuple[list[int], int] | None:
    """
    Parses and evaluates a `+ - *` expression over non-negative integers, without `eval`.

    The grammar is `NUMBER (OP NUMBER)*` with optional whitespace between tokens. Unary minus, parentheses, leading
    zeros and any other character make the expression invalid.

    Args:
        text (`str`):
            Expression text, for example `"3*7+12"`.

    Returns:
        `tuple[list[int], int] | None`: The numbers in the order they appear and the value of the expression (with `*`
        binding tighter than `+`/`-`, left to right), or `None` if the text is not a valid expression.
    """
    tokens: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "0123456789":
            j = i
            while j < len(text) and text[j] in "0123456789":
                j += 1
            tokens.append(text[i:j])
            i = j
        elif char in OPERATORS:
            tokens.append(char)
            i += 1
        else:
            return None
    # Alternating NUMBER OP NUMBER ... NUMBER, so an odd, non-zero number of tokens.
    if len(tokens) % 2 == 0:
        return None
    numbers = tokens[0::2]
    operators = tokens[1::2]
    if any(not token[0].isdigit() for token in numbers) or any(token not in OPERATORS for token in operators):
        return None
    # Leading zeros ("07") are rejected so each number has exactly one spelling; the length cap keeps arithmetic on
    # garbage cheap.
    if any((len(token) > 1 and token[0] == "0") or len(token) > 6 for token in numbers):
        return None
    values = [int(token) for token in numbers]

    # Sum of signed products: `*` extends the running product, `+`/`-` close it.
    total, sign, product = 0, 1, values[0]
    for operator, value in zip(operators, values[1:], strict=True):
        if operator == "*":
            product *= value
        else:
            total += sign * product
            sign = 1 if operator == "+" else -1
            product = value
    total += sign * product
    return values, total


def _cut_at_special_tokens(completion: str) -> str:
    # Text after the first special token is not part of the answer (generation would have stopped at EOS).
    for marker in (EOS_TEXT, PAD_TEXT):
        index = completion.find(marker)
        if index != -1:
            completion = completion[:index]
    return completion


def _clean_completion(completion: str) -> str:
    return _cut_at_special_tokens(completion).strip()


def score_completion(completion: str, numbers: list[int], target: int) -> float:
    """
    Scores one completion of a Countdown problem.

    Args:
        completion (`str`):
            Model output following the prompt, for example `"3*7+12"`. Surrounding whitespace and anything from the
            first `<eos>`/`<pad>` text onwards are ignored.
        numbers (`list[int]`):
            Numbers of the problem; each must be used exactly once.
        target (`int`):
            Value the expression must evaluate to.

    Returns:
        `float`: `1.0` if the completion is a valid expression using exactly the given numbers and equal to the
        target, `0.0` otherwise (including any malformed output).
    """
    if not isinstance(completion, str):
        return 0.0
    parsed = parse_expression(_clean_completion(completion))
    if parsed is None:
        return 0.0
    used, value = parsed
    if sorted(used) != sorted(int(n) for n in numbers):
        return 0.0
    return 1.0 if value == int(target) else 0.0


def _completion_text(completion: Any) -> str:
    # Conversational completions are lists of messages; the answer is the content of the last one.
    if isinstance(completion, list):
        return completion[-1]["content"] if completion else ""
    if isinstance(completion, dict):
        return completion.get("content", "")
    return completion


def countdown_reward(
    prompts: list[Any], completions: list[Any], numbers: list[list[int]], target: list[int], **kwargs: Any
) -> list[float]:
    """
    TRL reward function for Countdown: 1.0 for a correct expression, 0.0 otherwise.

    TRL calls reward functions with keyword arguments `prompts`, `completions`, `completion_ids`, one list per dataset
    column (here `numbers` and `target`) and extra state such as `trainer_state`; the extras are ignored.

    Args:
        prompts (`list`):
            Prompts of the batch (unused, kept for TRL's calling convention).
        completions (`list[str]` or `list[list[dict]]`):
            Completions of the batch, plain strings or conversational message lists.
        numbers (`list[list[int]]`):
            Dataset column with the numbers of each problem.
        target (`list[int]`):
            Dataset column with the target of each problem.

    Returns:
        `list[float]`: One reward per completion.
    """
    return _score_batch(score_completion, completions, numbers, target)


def _score_batch(score: Callable[[str, list[int], int], float], completions, numbers, target) -> list[float]:
    # One reward per completion; shared by the reward functions of the tasks with `numbers` and `target` columns.
    return [
        score(_completion_text(completion), nums, tgt)
        for completion, nums, tgt in zip(completions, numbers, target, strict=True)
    ]


# TRL logs each reward under `rewards/<__name__>/mean`.
countdown_reward.__name__ = "countdown_reward"


# ---------------------------------------------------------------------------------------------------------------------
# Problem generation
# ---------------------------------------------------------------------------------------------------------------------


def format_prompt(numbers: list[int], target: int) -> str:
    """
    Formats the plain-text (non-conversational) prompt of a problem.

    The prompt is kept a few characters long because the tiny policy has a character-level tokenizer; the model is
    expected to continue it with the bare expression followed by EOS.

    Args:
        numbers (`list[int]`):
            Numbers of the problem, in display order.
        target (`int`):
            Target value.

    Returns:
        `str`: The prompt, for example `"3 7 12=33:"`.
    """
    return " ".join(str(int(n)) for n in numbers) + f"={int(target)}:"


@functools.lru_cache(maxsize=1)
def _all_problems() -> dict[tuple[tuple[int, ...], int], tuple[str, ...]]:
    # Exhaustive enumeration: 364 multisets x distinct orderings x 9 operator pairs, a few thousand expressions.
    # Maps the canonical key (sorted numbers, target) to its sorted valid expressions. Only non-negative targets are
    # kept so prompts never contain a minus sign.
    table: dict[tuple[tuple[int, ...], int], set[str]] = {}
    for multiset in itertools.combinations_with_replacement(range(MIN_NUMBER, MAX_NUMBER + 1), NUM_NUMBERS):
        for order in set(itertools.permutations(multiset)):
            for ops in itertools.product(OPERATORS, repeat=NUM_NUMBERS - 1):
                expression = str(order[0]) + "".join(op + str(n) for op, n in zip(ops, order[1:], strict=True))
                _, value = parse_expression(expression)
                if value >= 0:
                    table.setdefault((multiset, value), set()).add(expression)
    return {key: tuple(sorted(expressions)) for key, expressions in sorted(table.items())}


def num_problems(split: str = "train") -> int:
    """
    Number of distinct problems (canonical keys) in a split.

    Args:
        split (`str`, *optional*, defaults to `"train"`):
            `"train"` or `"test"`.

    Returns:
        `int`: Size of the split.
    """
    return len(_PROBLEMS.keys(split))


def solve(numbers: list[int], target: int) -> list[str]:
    """
    Lists every valid answer to a problem.

    Args:
        numbers (`list[int]`):
            Numbers of the problem (any order).
        target (`int`):
            Target value.

    Returns:
        `list[str]`: All valid expressions, sorted; empty if the problem has no solution or is out of range.
    """
    return list(_all_problems().get((tuple(sorted(int(n) for n in numbers)), int(target)), ()))


def _make_problem(key: tuple[tuple[int, ...], int], rng: random.Random) -> dict[str, Any]:
    numbers = list(key[0])
    # The display order is random so the model cannot rely on sorted inputs; the key (and so the split) is unchanged.
    rng.shuffle(numbers)
    target = key[1]
    return {
        "numbers": numbers,
        "target": target,
        "prompt": format_prompt(numbers, target),
        "solutions": list(_all_problems()[key]),
    }


# Draws seeded with "countdown-..." strings, so they are the ones this module made before the split code was shared.
_PROBLEMS = ProblemSplits("countdown", _all_problems, _make_problem)


def generate_problems(n: int, seed: int, split: str = "train") -> list[dict[str, Any]]:
    """
    Draws distinct Countdown problems from a split, deterministically.

    Problems are drawn uniformly without replacement among the split's canonical keys (sorted numbers, target), and
    the numbers are shown in a random order. Every problem has at least one solution. The `train` and `test` splits
    never share a canonical key, whatever the seed.

    Args:
        n (`int`):
            Number of problems; at most `num_problems(split)`.
        seed (`int`):
            Seed of the draw; the same `(n, seed, split)` always gives the same list.
        split (`str`, *optional*, defaults to `"train"`):
            `"train"` or `"test"`.

    Returns:
        `list[dict]`: Problems with keys `numbers` (`list[int]`), `target` (`int`), `prompt` (`str`) and `solutions`
        (`list[str]`, all valid expressions, sorted).
    """
    return _PROBLEMS.generate(n, seed, split)


def sample_problems(n: int, seed: int, split: str = "train") -> list[dict[str, Any]]:
    """
    Draws Countdown problems from a split with replacement (for streams longer than the split, e.g. SFT data).

    Args:
        n (`int`):
            Number of problems.
        seed (`int`):
            Seed of the draw.
        split (`str`, *optional*, defaults to `"train"`):
            `"train"` or `"test"`.

    Returns:
        `list[dict]`: Problems in the same format as [`generate_problems`].
    """
    return _PROBLEMS.sample(n, seed, split)


def build_dataset(split: str = "train", n: int | None = None, seed: int = 0):
    """
    Builds a TRL-ready (standard, non-conversational) prompt dataset.

    Args:
        split (`str`, *optional*, defaults to `"train"`):
            `"train"` or `"test"`.
        n (`int` or `None`, *optional*, defaults to `None`):
            Number of distinct problems; `None` takes the whole split (in a seeded random order).
        seed (`int`, *optional*, defaults to `0`):
            Seed of the draw.

    Returns:
        `datasets.Dataset`: Columns `prompt` (`str`), `numbers` (`list[int]`) and `target` (`int`). Solutions are left
        out to keep TRL batches small; use [`solve`] if needed.
    """
    return _PROBLEMS.dataset(split, n, seed)


# ---------------------------------------------------------------------------------------------------------------------
# Shipped policy and evaluation
# ---------------------------------------------------------------------------------------------------------------------


def load_tiny_policy(dtype: torch.dtype = torch.float32, path: str | None = None):
    """
    Loads the tiny Countdown policy shipped with the package (offline, no remote code).

    Args:
        dtype (`torch.dtype`, *optional*, defaults to `torch.float32`):
            Dtype of the loaded weights.
        path (`str` or `None`, *optional*, defaults to `None`):
            Directory to load from instead of [`TINY_POLICY_PATH`], e.g. a freshly built policy.

    Returns:
        `tuple[transformers.PreTrainedModel, transformers.PreTrainedTokenizerBase]`: The causal LM (in eval mode) and
        its left-padding character-level tokenizer.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = TINY_POLICY_PATH if path is None else str(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model.eval()
    return model, tokenizer


def _generate(model, tokenizer, prompts, do_sample, temperature, max_new_tokens, num_return_sequences):
    # The shared backend's bare-prompt sampling; greedy without `do_sample`.
    return generate_hf_texts(
        model, tokenizer, prompts, num_return_sequences, temperature if do_sample else None, max_new_tokens
    )


def evaluate_pass_at_1(
    model,
    tokenizer,
    problems: list[dict[str, Any]],
    num_samples: int = 4,
    temperature: float = 1.0,
    max_new_tokens: int = 12,
    batch_size: int = 256,
    seed: int = 0,
    score: Callable[[str, list[int], int], float] = score_completion,
) -> dict[str, float]:
    """
    Measures sampled pass@1 and greedy accuracy of a policy on Countdown problems (or another task's, with `score`).

    The global torch RNG state is restored afterwards, so evaluating does not perturb a surrounding training run.

    Args:
        model (`transformers.PreTrainedModel`):
            Causal LM to evaluate.
        tokenizer (`transformers.PreTrainedTokenizerBase`):
            Its tokenizer (set to left padding here).
        problems (`list[dict]`):
            Problems with `prompt`, `numbers` and `target`, e.g. from [`generate_problems`].
        num_samples (`int`, *optional*, defaults to `4`):
            Sampled completions per problem.
        temperature (`float`, *optional*, defaults to `1.0`):
            Sampling temperature (no top-k/top-p truncation).
        max_new_tokens (`int`, *optional*, defaults to `12`):
            Generation length cap; the longest Countdown answer is 8 characters plus EOS.
        batch_size (`int`, *optional*, defaults to `256`):
            Number of sequences generated per `generate` call.
        seed (`int`, *optional*, defaults to `0`):
            Seed for sampling.
        score (`Callable[[str, list[int], int], float]`, *optional*, defaults to [`score_completion`]):
            Scorer of one completion, called as `score(completion, numbers, target)` and returning `1.0` when it is
            correct; another task with the same problem fields (e.g. `trl_entropy.tasks.countdown_steps`) passes
            its own.

    Returns:
        `dict`: `pass_at_1` (mean correctness over all samples), `greedy_accuracy` (greedy decoding) and
        `num_problems`.
    """
    sampled_correct, greedy_correct = 0.0, 0.0
    # A 4-bit policy in training must not be repacked for inference by its eval-mode forwards (see the helper).
    with eval_mode(model), seeded_generation(model.device, seed), keep_4bit_training_layout(model):
        for chunk in chunk_ranges(len(problems), items_per_chunk(batch_size, num_samples)):
            chunk_problems = [problems[i] for i in chunk]
            prompts = [p["prompt"] for p in chunk_problems]
            if num_samples > 0:
                completions = _generate(model, tokenizer, prompts, True, temperature, max_new_tokens, num_samples)
                # `generate` returns the samples of each prompt contiguously.
                for index, completion in enumerate(completions):
                    problem = chunk_problems[index // num_samples]
                    sampled_correct += score(completion, problem["numbers"], problem["target"])
        for chunk in chunk_ranges(len(problems), batch_size):
            chunk_problems = [problems[i] for i in chunk]
            completions = _generate(
                model, tokenizer, [p["prompt"] for p in chunk_problems], False, None, max_new_tokens, 1
            )
            for problem, completion in zip(chunk_problems, completions, strict=True):
                greedy_correct += score(completion, problem["numbers"], problem["target"])
    count = len(problems)
    return {
        "pass_at_1": sampled_correct / max(1, count * num_samples),
        "greedy_accuracy": greedy_correct / max(1, count),
        "num_problems": count,
        "num_samples": num_samples,
        "temperature": temperature,
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    """
    Command-line evaluation: `python -m trl_entropy.tasks.countdown --model default --split test --num-problems 500`.

    Args:
        argv (`list[str]` or `None`, *optional*, defaults to `None`):
            Arguments; `None` reads `sys.argv`.

    Returns:
        `dict`: The figures printed as JSON (see [`evaluate_pass_at_1`]).
    """
    parser = argparse.ArgumentParser(description="Evaluate a policy on Countdown (offline).")
    parser.add_argument("--model", default="default", help="Model directory, or 'default' for the shipped policy.")
    parser.add_argument("--split", default="test", choices=SPLITS)
    parser.add_argument("--num-problems", type=int, default=500)
    parser.add_argument("--num-samples", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--max-new-tokens", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    path = None if args.model == "default" else args.model
    model, tokenizer = load_tiny_policy(path=path)
    problems = generate_problems(min(args.num_problems, num_problems(args.split)), seed=args.seed, split=args.split)
    result = evaluate_pass_at_1(
        model,
        tokenizer,
        problems,
        num_samples=args.num_samples,
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    result = {"model": path or TINY_POLICY_PATH, "split": args.split, **result}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
