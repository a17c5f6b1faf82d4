"""Builds the tiny policies shipped in `trl_entropy/policies`: `tiny_countdown` and `tiny_countdown_steps`.

Usage:

```bash
python -m trl_entropy.tasks.build_policy --output-dir trl_entropy/policies/tiny_countdown
python -m trl_entropy.tasks.build_policy --task countdown-steps    # writes trl_entropy/policies/tiny_countdown_steps
```

Each policy is a ~0.8M-parameter `Qwen2ForCausalLM` with a character-level tokenizer over its task's characters,
warm-started by supervised fine-tuning on (prompt, one random correct completion, EOS) traces from the train split,
with the loss on the completion only. Training stops after a fixed number of optimizer steps (not wall time) so the
build is reproducible, and stops early on purpose: the policy must solve a fair share of held-out problems when
sampling at temperature 1.0 while keeping enough entropy (and enough failures) for GRPO to improve on.

[`measure_pass_at_k`] (also `benchmarks/pass_at_k_curve.py`) measures the pass@k curve and the sampled entropy of
any checkpoint of these policies, for example before and after a GRPO run.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..sampling.backends import eval_mode, generate_hf_with_entropy, rng_devices, seeded_generation
from ..sampling.chunks import chunk_ranges, items_per_chunk
from . import countdown_steps
from .countdown import (
    TINY_POLICY_PATH,
    evaluate_pass_at_1,
    generate_problems,
    load_tiny_policy,
    sample_problems,
    score_completion,
)


SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")
# Every character a Countdown prompt or answer can contain: digits, operators, the prompt separators and the space.
CHARACTERS = tuple("0123456789+-*=: ")
# The longest sequence is "12 12 12=1728:" plus "12*12*12" plus EOS, 23 tokens; 64 leaves room for sloppy samples.
MAX_POSITIONS = 64

# Step count chosen from a measurement (seed 0, 200 test problems x 4 samples, temperature 1.0): pass@1 was 0.07 at
# step 100, 0.18 at 200, 0.28 at 500, 0.34 at 600, 0.35 at 800, 0.40 at 1000. 600 steps lands mid-band (0.2-0.45),
# leaving headroom (and entropy) for RL.
DEFAULT_STEPS = 600
DEFAULT_BATCH_SIZE = 128
DEFAULT_LR = 2e-3
WARMUP_STEPS = 20

# Countdown-steps: the longest sequence is "9 9 9 9=99:" (11 characters) plus a 22-character trace plus EOS, 34
# tokens; 64 also holds the prompt plus the 26 new tokens the steps recipes allow (`max_completion_length`).
STEPS_MAX_POSITIONS = 64
# The recipes' `max_completion_length`: the longest correct trace, its EOS and 3 tokens of slack, as for Countdown.
STEPS_MAX_NEW_TOKENS = countdown_steps.MAX_COMPLETION_CHARS + 4
# Countdown-steps learns more slowly (three chained steps, each result computed). Held-out pass@1 (seed 0, 200 test
# problems x 4 samples, temperature 1.0) at a constant lr 2e-3: 0.05 at step 500, 0.07 at 1000, 0.11 at 1500, 0.13 at
# 2000 (a constant 4e-3 was no faster: 0.07 at 1250). A linear decay to zero over the last third lifts it steeply: a
# 3000-step run ended at 0.25 (0.22 on 500 x 8); this 4000-step one went 0.15 at 2500, 0.20 at 3000, 0.24 at 3250,
# 0.23 at 3500, 0.28 at 3750 and 0.29 at 4000 (0.27 on 500 x 8), mid-band (0.15-0.45) with pass@64 0.995 left above.
STEPS_DEFAULT_STEPS = 4000
STEPS_DECAY_FRACTION = 1 / 3

# Held-out evaluation used for the README figures.
EVAL_PROBLEMS = 500
EVAL_SAMPLES = 8
EVAL_SEED = 0
# Problems and samples of the README's entropy figure.
ENTROPY_PROBLEMS = 200
ENTROPY_SAMPLES = 4
# Samples per problem of the README's pass@k curve (where a task asks for one).
PASS_AT_K_SAMPLES = 64


# ---------------------------------------------------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyTask:
    """
    What [`build_policy`] needs to know about a task to build (and describe) its tiny policy.

    Args:
        name (`str`):
            Name on the command line (`--task`).
        characters (`tuple[str, ...]`):
            Every character of the task's prompts and completions, in vocabulary order (after the special tokens).
        max_positions (`int`):
            `max_position_embeddings` of the model and `model_max_length` of the tokenizer.
        output_dir (`str`):
            Where the shipped policy lives, the default output directory.
        generate_problems (`Callable[..., list[dict]]`):
            `generate_problems(n, seed=..., split=...)`: distinct problems with `numbers`, `target` and `prompt`.
        sample_problems (`Callable[..., list[dict]]`):
            `sample_problems(n, seed=..., split=...)`: problems drawn with replacement, the supervised data stream.
        sample_solution (`Callable[[dict, random.Random], str]`):
            One correct completion of a problem, drawn with the given generator (the build's only draw of solutions).
        score (`Callable[[str, list[int], int], float]`):
            `score(completion, numbers, target)`, `1.0` for a correct completion.
        max_new_tokens (`int`):
            Generation cap of the evaluations (and of the saved `generation_config`).
        steps (`int`):
            Default number of optimizer steps.
        batch_size (`int`):
            Default batch size.
        lr (`float`):
            Default learning rate.
        probe_texts (`tuple[str, ...]`):
            Texts the tokenizer reloaded through `AutoTokenizer` must tokenize exactly as the built one (every
            character and special token is probed in addition).
        readme_intro (`str`):
            README text before its build section; may use `{num_parameters}` and `{vocab_size}`.
        readme_traces (`str`):
            What one supervised trace is, inside the README's build paragraph.
        readme_reproduce (`str`):
            How to recompute the pass@1 figures; may use `{num_problems}` and `{num_samples}`.
        pass_at_k_problems (`int`, *optional*, defaults to `0`):
            If positive, the README also gives the pass@k curve ([`measure_pass_at_k`], `PASS_AT_K_SAMPLES` samples)
            over that many test problems.
        command_flags (`str`, *optional*, defaults to `""`):
            Flags that select the task in the README's rebuild command.
        decay_fraction (`float`, *optional*, defaults to `0.0`):
            Share of the steps, at the end, over which the learning rate decays linearly to zero; `0.0` keeps it
            constant after warmup.
    """

    name: str
    characters: tuple[str, ...]
    max_positions: int
    output_dir: str
    generate_problems: Callable[..., list[dict]]
    sample_problems: Callable[..., list[dict]]
    sample_solution: Callable[[dict, random.Random], str]
    score: Callable[[str, list[int], int], float]
    max_new_tokens: int
    steps: int
    batch_size: int
    lr: float
    probe_texts: tuple[str, ...]
    readme_intro: str
    readme_traces: str
    readme_reproduce: str
    pass_at_k_problems: int = 0
    command_flags: str = ""
    decay_fraction: float = 0.0


def _choose_listed_solution(problem: dict, rng: random.Random) -> str:
    # Countdown problems list every valid answer; one uniform draw per trace keeps the policy spread over all of them.
    return rng.choice(problem["solutions"])


_COUNTDOWN_INTRO = """# tiny_countdown

The default policy of `trl_entropy.tasks`: a {num_parameters:,}-parameter `Qwen2ForCausalLM` (hidden 128,
3 layers, 4 heads, 4 KV heads, intermediate 512, tied embeddings, fp32 safetensors) for the Countdown task of
`trl_entropy.tasks.countdown`. Prompt `"3 7 12=33:"`, expected completion an expression such as `"3*7+12"`, then
`<eos>`.

The tokenizer has {vocab_size} tokens, one per character (`<pad>` 0, `<bos>` 1, `<eos>` 2, digits, `+ - * = :`
and space). It is a merge-free byte-level BPE, so `AutoTokenizer` (which loads every `qwen2` checkpoint as
`Qwen2Tokenizer` in transformers 5) tokenizes exactly as in training. No special token is added automatically, left
padding.
"""


def countdown_task() -> PolicyTask:
    """
    The Countdown task of `trl_entropy.tasks.countdown` and its policy `trl_entropy/policies/tiny_countdown`.

    Returns:
        [`PolicyTask`]: The task description.
    """
    return PolicyTask(
        name="countdown",
        characters=CHARACTERS,
        max_positions=MAX_POSITIONS,
        output_dir=TINY_POLICY_PATH,
        generate_problems=generate_problems,
        sample_problems=sample_problems,
        sample_solution=_choose_listed_solution,
        score=score_completion,
        max_new_tokens=12,
        steps=DEFAULT_STEPS,
        batch_size=DEFAULT_BATCH_SIZE,
        lr=DEFAULT_LR,
        probe_texts=("3 7 12=33:3*7+12<eos>", "12 12 12=1728:12*12*12"),
        readme_intro=_COUNTDOWN_INTRO,
        readme_traces="prompt + one uniformly chosen valid\nsolution + EOS",
        readme_reproduce="`python -m trl_entropy.tasks.countdown --model default --split test --num-problems\n"
        "{num_problems} --num-samples {num_samples}`.",
    )


def _draw_trace(problem: dict, rng: random.Random) -> str:
    # Uniform over a problem's correct traces (up to 220 of them), drawn from exact counts rather than listed.
    return countdown_steps.random_solution(problem["numbers"], problem["target"], rng)


_COUNTDOWN_STEPS_INTRO = """# tiny_countdown_steps

The policy of the step-by-step Countdown task `trl_entropy.tasks.countdown_steps` (recipes name it
`trl-entropy/tiny-countdown-steps`): a {num_parameters:,}-parameter `Qwen2ForCausalLM` (hidden 128, 3 layers,
4 heads, 4 KV heads, intermediate 512, tied embeddings, fp32 safetensors), the architecture of `tiny_countdown`.
Prompt `"3 5 7 2=30:"` (four numbers in 1..9 and a target), expected completion three steps that each combine two
of the numbers still available, such as `"7*5=35,35-3=32,32-2=30"`, then `<eos>`.

The tokenizer has {vocab_size} tokens, one per character (`<pad>` 0, `<bos>` 1, `<eos>` 2, digits, `+ - * = :`,
`,` and space). It is a merge-free byte-level BPE, so `AutoTokenizer` (which loads every `qwen2` checkpoint as
`Qwen2Tokenizer` in transformers 5) tokenizes exactly as in training. No special token is added automatically, left
padding.
"""


def countdown_steps_task() -> PolicyTask:
    """
    The task of `trl_entropy.tasks.countdown_steps` and its policy `trl_entropy/policies/tiny_countdown_steps`.

    Returns:
        [`PolicyTask`]: The task description.
    """
    return PolicyTask(
        name="countdown-steps",
        characters=countdown_steps.CHARACTERS,
        max_positions=STEPS_MAX_POSITIONS,
        output_dir=countdown_steps.TINY_STEPS_POLICY_PATH,
        generate_problems=countdown_steps.generate_problems,
        sample_problems=countdown_steps.sample_problems,
        sample_solution=_draw_trace,
        score=countdown_steps.score_completion,
        max_new_tokens=STEPS_MAX_NEW_TOKENS,
        steps=STEPS_DEFAULT_STEPS,
        batch_size=DEFAULT_BATCH_SIZE,
        lr=DEFAULT_LR,
        probe_texts=("3 5 7 2=30:7*5=35,35-3=32,32-2=30<eos>", "9 9 9 9=81:9*9=81,81+9=90,90-9=81"),
        readme_intro=_COUNTDOWN_STEPS_INTRO,
        readme_traces="prompt + one correct trace drawn\nuniformly among all of the problem's traces + EOS",
        readme_reproduce="`python benchmarks/pass_at_k_curve.py --task countdown-steps --pass-at-1 --num-problems\n"
        "{num_problems} --num-samples {num_samples}`.",
        pass_at_k_problems=200,
        command_flags=" --task countdown-steps",
        decay_fraction=STEPS_DECAY_FRACTION,
    )


TASKS: dict[str, Callable[[], PolicyTask]] = {"countdown": countdown_task, "countdown-steps": countdown_steps_task}


def policy_task(name: str | PolicyTask) -> PolicyTask:
    """
    Looks up a task of [`TASKS`] by name.

    Args:
        name (`str` or [`PolicyTask`]):
            Task name (`"countdown"`, `"countdown-steps"`); a [`PolicyTask`] is returned as it is.

    Returns:
        [`PolicyTask`]: The task description.
    """
    if isinstance(name, PolicyTask):
        return name
    if name not in TASKS:
        raise ValueError(f"Unknown task {name!r}; expected one of {sorted(TASKS)}.")
    return TASKS[name]()


# ---------------------------------------------------------------------------------------------------------------------
# Tokenizer and model
# ---------------------------------------------------------------------------------------------------------------------


def _byte_level_symbol(char: str) -> str:
    # GPT-2 style byte-level alphabet: printable ASCII maps to itself, the space byte (0x20) to "\u0120" ("Ġ").
    return "\u0120" if char == " " else char


def build_tokenizer(characters: Sequence[str] = CHARACTERS, max_positions: int = MAX_POSITIONS):
    """
    Builds the character-level tokenizer of a tiny policy.

    The model is a BPE with no merges over a byte-level alphabet, which makes it exactly one token per character. It
    is built that way (rather than, say, a WordLevel model) because `AutoTokenizer` in transformers 5 always loads
    `qwen2` checkpoints as `Qwen2Tokenizer`, which rebuilds a byte-level BPE pipeline around the saved vocabulary: a
    merge-free byte-level BPE tokenizes identically under that pipeline and under its own.

    Args:
        characters (`Sequence[str]`, *optional*, defaults to `CHARACTERS`):
            The task's characters (printable ASCII), in vocabulary order after `<pad>`, `<bos>` and `<eos>`; the
            default is Countdown's.
        max_positions (`int`, *optional*, defaults to `MAX_POSITIONS`):
            `model_max_length` of the tokenizer.

    Returns:
        `transformers.PreTrainedTokenizerFast`: A tokenizer with `3 + len(characters)` tokens (19 for Countdown:
        `<pad>`, `<bos>`, `<eos>`, the digits, `+ - * = :` and space), left padding and no automatically added
        special tokens, so that TRL's `add_special_tokens=False` tokenization and a plain call give the same ids.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    symbols = SPECIAL_TOKENS + tuple(map(_byte_level_symbol, characters))
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"Characters must be distinct single characters, got {list(characters)}")
    vocab = {token: index for index, token in enumerate(symbols)}
    backend = Tokenizer(
        models.BPE(
            vocab=vocab,
            merges=[],
            unk_token=None,
            continuing_subword_prefix="",
            end_of_word_suffix="",
            fuse_unk=False,
            byte_fallback=False,
        )
    )
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(list(SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        padding_side="left",
        clean_up_tokenization_spaces=False,
        model_max_length=max_positions,
    )


def _save_tokenizer(tokenizer, output: Path) -> None:
    tokenizer.save_pretrained(output)
    config_path = output / "tokenizer_config.json"
    tokenizer_config = json.loads(config_path.read_text())
    # Name the class `AutoTokenizer` really instantiates for a qwen2 checkpoint, and pin `unk_token` to null: otherwise
    # `Qwen2Tokenizer` adds its default "<|endoftext|>" as one token more than the embedding has rows.
    tokenizer_config["tokenizer_class"] = "Qwen2Tokenizer"
    tokenizer_config["unk_token"] = None
    config_path.write_text(json.dumps(tokenizer_config, indent=2, sort_keys=True) + "\n")
    # Recent transformers keep special tokens in tokenizer_config.json only; this file helps older loaders and readers.
    special = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"}
    (output / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")


def check_reloaded_tokenizer(tokenizer, reloaded, texts: Sequence[str]) -> None:
    """
    Raises unless a reloaded tokenizer agrees with the built one, id for id, and round-trips every text.

    Args:
        tokenizer (`transformers.PreTrainedTokenizerBase`):
            The tokenizer used for training.
        reloaded (`transformers.PreTrainedTokenizerBase`):
            The same tokenizer as users get it (`AutoTokenizer.from_pretrained`).
        texts (`Sequence[str]`):
            Texts to compare, special-token texts allowed.
    """
    for text in texts:
        expected = tokenizer(text, add_special_tokens=False).input_ids
        for ids in (reloaded(text, add_special_tokens=False).input_ids, reloaded(text).input_ids):
            if ids != expected:
                raise RuntimeError(f"Reloaded tokenizer disagrees on {text!r}: {ids} != {expected}")
        if reloaded.decode(expected) != text:
            raise RuntimeError(f"Reloaded tokenizer does not round-trip {text!r}")
    if len(reloaded) != len(tokenizer) or reloaded.padding_side != "left":
        raise RuntimeError(f"Reloaded tokenizer has {len(reloaded)} tokens, padding side {reloaded.padding_side}")


def _tokenizer_probes(task: PolicyTask) -> tuple[str, ...]:
    return task.probe_texts + (" " + "".join(task.characters) + "".join(SPECIAL_TOKENS),)


def build_config(tokenizer, max_positions: int = MAX_POSITIONS):
    """
    Builds the `Qwen2Config` of a tiny policy (790,912 parameters with Countdown's 19 tokens, 128 per extra token).

    Args:
        tokenizer (`transformers.PreTrainedTokenizerBase`):
            Tokenizer from [`build_tokenizer`], for the vocabulary size and special token ids.
        max_positions (`int`, *optional*, defaults to `MAX_POSITIONS`):
            `max_position_embeddings` (rotary positions: no parameters depend on it).

    Returns:
        `transformers.Qwen2Config`: The model configuration.
    """
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        use_cache=True,
    )


def _encode_batch(problems, rng, char_to_id, pad_id, eos_id, sample_solution):
    # Right-padded prompt + one random correct solution + EOS; the labels mask the prompt and the padding so the loss
    # is on the completion only. Sampling a different solution each time keeps the policy spread over all answers.
    sequences, prompt_lengths = [], []
    for problem in problems:
        completion = sample_solution(problem, rng)
        sequences.append([char_to_id[c] for c in problem["prompt"] + completion] + [eos_id])
        prompt_lengths.append(len(problem["prompt"]))
    length = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    labels = torch.full_like(input_ids, -100)
    for row, (sequence, prompt_length) in enumerate(zip(sequences, prompt_lengths, strict=True)):
        input_ids[row, : len(sequence)] = torch.tensor(sequence)
        attention_mask[row, : len(sequence)] = 1
        labels[row, prompt_length : len(sequence)] = input_ids[row, prompt_length : len(sequence)]
    return input_ids, attention_mask, labels


# ---------------------------------------------------------------------------------------------------------------------
# Sampling measurements
# ---------------------------------------------------------------------------------------------------------------------


# Sampling with the entropy of each step: the shared HF backend's variant (its old name here).
_sample_with_entropy = generate_hf_with_entropy


def _rng_devices(model) -> list[int]:
    return rng_devices(model.device)


def _sampled_entropy(model, tokenizer, problems, num_samples=ENTROPY_SAMPLES, seed=EVAL_SEED, max_new_tokens=12):
    # Mean per-token entropy (nats) of the policy along its own temperature-1.0 samples, EOS included: a quick check
    # that the warm start still spreads probability over several answers, which GRPO needs to explore. One
    # `generate` call for all prompts, so that the README figure does not depend on a batch size.
    with seeded_generation(model.device, seed):
        prompts = [p["prompt"] for p in problems]
        _, entropy_sum, num_tokens = generate_hf_with_entropy(
            model, tokenizer, prompts, num_samples, 1.0, max_new_tokens
        )
    return entropy_sum / num_tokens


def measure_pass_at_k(
    model,
    tokenizer,
    problems: list[dict[str, Any]],
    score: Callable[[str, list[int], int], float] = score_completion,
    num_samples: int = PASS_AT_K_SAMPLES,
    ks: Sequence[int] | None = None,
    temperature: float = 1.0,
    max_new_tokens: int = 12,
    batch_size: int = 512,
    seed: int = EVAL_SEED,
) -> dict[str, Any]:
    """
    Measures the unbiased pass@k curve and the mean per-token entropy of a policy's samples on a set of problems.

    Every problem gets `num_samples` completions sampled at `temperature` (no top-k/top-p truncation); pass@k is
    `trl_entropy.eval.pass_at_k` averaged over problems, and the entropy is that of the sampling distribution at each
    sampled token (EOS included), averaged over all tokens of all samples. Run it on the same problems before and after
    RL training to see whether training widened or narrowed what the policy can reach (pass@k at large `k`). The
    global torch RNG state is restored afterwards.

    Args:
        model (`transformers.PreTrainedModel`):
            Causal LM to evaluate.
        tokenizer (`transformers.PreTrainedTokenizerBase`):
            Its tokenizer (set to left padding here).
        problems (`list[dict]`):
            Problems with `prompt`, `numbers` and `target`.
        score (`Callable[[str, list[int], int], float]`, *optional*, defaults to Countdown's `score_completion`):
            `score(completion, numbers, target)`, `1.0` for a correct completion.
        num_samples (`int`, *optional*, defaults to `64`):
            Samples per problem (`n` of the estimator).
        ks (`Sequence[int]` or `None`, *optional*, defaults to `None`):
            Budgets, each in `[1, num_samples]`; `None` takes the powers of two up to `num_samples` (and
            `num_samples`).
        temperature (`float`, *optional*, defaults to `1.0`):
            Sampling temperature.
        max_new_tokens (`int`, *optional*, defaults to `12`):
            Generation length cap (Countdown's; pass the task's).
        batch_size (`int`, *optional*, defaults to `512`):
            Sequences per `generate` call (whole problems: at least one problem's samples).
        seed (`int`, *optional*, defaults to `0`):
            Seed for sampling.

    Returns:
        `dict`: `num_problems`, `num_samples`, `temperature`, `pass@k` for each budget (`pass@1` is the mean
        correctness), `mean_token_entropy` (nats), `mean_completion_tokens` (EOS included) and `solved_share` (share of
        problems with at least one correct sample).
    """
    from ..eval.metrics import default_ks, pass_at_k

    ks = default_ks(num_samples) if ks is None else list(ks)
    num_correct, entropy_sum, num_tokens = [], 0.0, 0.0
    # One seed for the whole stream of chunks (not a seed per chunk as in `trl_entropy.sampling.sample_chunks`): the
    # README curves were measured this way, and the chunks always run all together, in order.
    with eval_mode(model), seeded_generation(model.device, seed):
        for chunk in chunk_ranges(len(problems), items_per_chunk(batch_size, num_samples)):
            chunk_problems = [problems[i] for i in chunk]
            texts, chunk_entropy, chunk_tokens = generate_hf_with_entropy(
                model, tokenizer, [p["prompt"] for p in chunk_problems], num_samples, temperature, max_new_tokens
            )
            entropy_sum, num_tokens = entropy_sum + chunk_entropy, num_tokens + chunk_tokens
            for index, problem in enumerate(chunk_problems):
                samples = texts[index * num_samples : (index + 1) * num_samples]
                num_correct.append(int(sum(score(text, problem["numbers"], problem["target"]) for text in samples)))
    count = max(1, len(problems))
    result: dict[str, Any] = {"num_problems": len(problems), "num_samples": num_samples, "temperature": temperature}
    for k in ks:
        result[f"pass@{k}"] = sum(pass_at_k(num_samples, c, k) for c in num_correct) / count
    result["mean_token_entropy"] = entropy_sum / max(1.0, num_tokens)
    result["mean_completion_tokens"] = num_tokens / max(1, len(problems) * num_samples)
    result["solved_share"] = sum(1 for c in num_correct if c > 0) / count
    return result


# ---------------------------------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------------------------------


def _pass_at_k_section(task: PolicyTask, curve: dict[str, Any]) -> str:
    ks = [key for key in curve if key.startswith("pass@")]
    header = " | ".join(key.removeprefix("pass@") for key in ks)
    values = " | ".join(f"{curve[key]:.3f}" for key in ks)
    return f"""
## pass@k (held-out `test` split)

`generate_problems({curve["num_problems"]}, seed={EVAL_SEED}, split="test")`, {curve["num_samples"]} samples per
problem at temperature {curve["temperature"]}, unbiased estimator (`trl_entropy.eval.pass_at_k`); mean per-token
entropy of these samples {curve["mean_token_entropy"]:.3f} nats, {curve["mean_completion_tokens"]:.1f} tokens per
completion (EOS included):

| k | {header} |
|---|{"---|" * len(ks)}
| pass@k | {values} |

Reproduce: `python benchmarks/pass_at_k_curve.py --task {task.name} --num-problems {curve["num_problems"]} \
--num-samples {curve["num_samples"]}`.
"""


def _write_readme(output_dir: Path, task: PolicyTask, summary: dict) -> None:
    figures = summary["eval"]
    curve = summary.get("pass_at_k")
    intro = task.readme_intro.format(num_parameters=summary["num_parameters"], vocab_size=summary["vocab_size"])
    relative_output = os.path.relpath(task.output_dir, Path(__file__).resolve().parents[2])
    command = f"python -m trl_entropy.tasks.build_policy{task.command_flags} --output-dir {relative_output}"
    decay_steps = _decay_steps(summary["steps"], task.decay_fraction)
    decay = f", then linear decay to zero over the last {decay_steps} steps" if decay_steps else ""
    reproduce = task.readme_reproduce.format(num_problems=figures["num_problems"], num_samples=figures["num_samples"])
    text = f"""{intro}
## How it was built

`{command} --seed {summary["seed"]}`

Supervised warm start from random initialisation on train-split traces ({task.readme_traces}, loss on the \
completion only): {summary["steps"]} AdamW steps of batch {summary["batch_size"]}, lr
{summary["lr"]} ({WARMUP_STEPS}-step linear warmup, then constant{decay}), gradient clipping 1.0, seed {summary["seed"]},
2 CPU threads ({summary["train_seconds"]:.0f} s of training on a 2-core CPU). Training stops after a fixed step
count, so a rebuild reproduces `model.safetensors` byte for byte on the same software stack. It stops early on
purpose: the policy still samples diverse answers and fails often, which leaves headroom for RL.

## Measured accuracy (held-out `test` split)

`generate_problems({figures["num_problems"]}, seed={EVAL_SEED}, split="test")`, {figures["num_samples"]} samples per
problem:

| metric | value |
|---|---|
| pass@1, temperature 1.0 | {figures["pass_at_1"]:.3f} |
| greedy accuracy | {figures["greedy_accuracy"]:.3f} |
| mean per-token entropy of samples (nats; {summary["entropy_problems"]} problems x {ENTROPY_SAMPLES}) | \
{summary["sample_entropy"]:.3f} |

Reproduce: {reproduce}
{_pass_at_k_section(task, curve) if curve else ""}"""
    (output_dir / "README.md").write_text(text)


def build_policy(
    output_dir: str,
    steps: int | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    lr: float | None = None,
    seconds: float | None = None,
    eval_every: int = 0,
    eval_problems: int = 200,
    task: str | PolicyTask = "countdown",
    readme_problems: int = EVAL_PROBLEMS,
) -> dict:
    """
    Trains the tiny policy of a task and writes it (weights, tokenizer, README) to a directory.

    Args:
        output_dir (`str`):
            Directory to write; created if missing.
        steps (`int` or `None`, *optional*, defaults to `None`):
            Number of optimizer steps, the stopping criterion that makes the build reproducible; `None` takes the
            task's (`DEFAULT_STEPS` for Countdown).
        seed (`int`, *optional*, defaults to `0`):
            Seed for the initialisation and the data stream.
        batch_size (`int` or `None`, *optional*, defaults to `None`):
            Sequences per optimizer step; `None` takes the task's (128 for both shipped tasks).
        lr (`float` or `None`, *optional*, defaults to `None`):
            AdamW learning rate after warmup; `None` takes the task's (`2e-3` for both shipped tasks).
        seconds (`float` or `None`, *optional*, defaults to `None`):
            Optional extra wall-clock cap, for exploration only: a build stopped by it is not reproducible.
        eval_every (`int`, *optional*, defaults to `0`):
            If positive, prints held-out pass@1 every that many steps (does not affect training).
        eval_problems (`int`, *optional*, defaults to `200`):
            Test problems used by the periodic evaluation.
        task (`str` or [`PolicyTask`], *optional*, defaults to `"countdown"`):
            Task of the policy, a name of [`TASKS`].
        readme_problems (`int`, *optional*, defaults to `500`):
            Test problems of the README's pass@1 and greedy accuracy; the entropy figure takes at most 200 of them and
            the pass@k curve at most `task.pass_at_k_problems`. Smaller values are for quick test builds.

    Returns:
        `dict`: Build summary (steps, wall time, parameter count, final held-out figures).
    """
    task = policy_task(task)
    steps = task.steps if steps is None else steps
    batch_size = task.batch_size if batch_size is None else batch_size
    lr = task.lr if lr is None else lr
    # The build pins torch's thread count, deterministic mode and global RNG; a caller in the same process (a test, a
    # notebook) gets its own settings back.
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        with torch.random.fork_rng(devices=[]):
            return _train_and_write(
                task, output_dir, steps, seed, batch_size, lr, seconds, eval_every, eval_problems, readme_problems
            )
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def _decay_steps(steps: int, decay_fraction: float) -> int:
    return max(1, round(steps * decay_fraction)) if decay_fraction > 0 else 0


def _lr_factor(steps: int, decay_fraction: float) -> Callable[[int], float]:
    decay_steps = _decay_steps(steps, decay_fraction)
    if not decay_steps:
        # Kept exactly as the Countdown build has always computed it: its weights are reproducible bit for bit.
        return lambda step: min(1.0, (step + 1) / WARMUP_STEPS)
    # Step `steps - 1`, the last, runs at 1 / decay_steps of the peak.
    return lambda step: min(1.0, (step + 1) / WARMUP_STEPS, (steps - step) / decay_steps)


def _train_and_write(
    task, output_dir, steps, seed, batch_size, lr, seconds, eval_every, eval_problems, readme_problems
) -> dict:
    from transformers import GenerationConfig, Qwen2ForCausalLM

    # Same thread count and deterministic kernels on every build: CPU float reductions depend on how work is split,
    # and the shipped weights should be reproducible bit for bit.
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)

    tokenizer = build_tokenizer(task.characters, task.max_positions)
    char_to_id = {c: tokenizer.convert_tokens_to_ids(_byte_level_symbol(c)) for c in task.characters}
    # The training loop encodes with this dict (much faster than the tokenizer); make sure the two agree.
    probe = "".join(task.characters) + "".join(reversed(task.characters))
    if tokenizer(probe, add_special_tokens=False).input_ids != [char_to_id[c] for c in probe]:
        raise RuntimeError("character map and tokenizer disagree")
    config = build_config(tokenizer, task.max_positions)
    model = Qwen2ForCausalLM(config)
    num_parameters = sum(p.numel() for p in model.parameters())
    print(f"model: {num_parameters:,} parameters, vocabulary {len(tokenizer)} tokens")

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(steps, task.decay_fraction))
    rng = random.Random(f"sft-{seed}")
    eval_set = task.generate_problems(eval_problems, seed=EVAL_SEED, split="test") if eval_every > 0 else []

    model.train()
    start = time.perf_counter()
    running_loss, step = 0.0, 0
    while step < steps:
        if seconds is not None and time.perf_counter() - start > seconds:
            print(f"stopping at step {step} on the --seconds cap: this build is NOT reproducible")
            break
        problems = task.sample_problems(batch_size, seed=seed * 1_000_003 + step, split="train")
        input_ids, attention_mask, labels = _encode_batch(
            problems, rng, char_to_id, tokenizer.pad_token_id, tokenizer.eos_token_id, task.sample_solution
        )
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        running_loss += loss.item()
        if step % 50 == 0:
            elapsed = time.perf_counter() - start
            print(f"step {step:5d}  loss {running_loss / 50:.4f}  {elapsed:6.1f} s")
            running_loss = 0.0
        if eval_every > 0 and step % eval_every == 0:
            figures = evaluate_pass_at_1(
                model,
                tokenizer,
                eval_set,
                num_samples=4,
                seed=EVAL_SEED,
                max_new_tokens=task.max_new_tokens,
                score=task.score,
            )
            print(f"  eval step {step}: pass@1 {figures['pass_at_1']:.3f}  greedy {figures['greedy_accuracy']:.3f}")
    train_seconds = time.perf_counter() - start
    print(f"trained {step} steps in {train_seconds:.1f} s")

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=task.max_new_tokens,
    )
    model.save_pretrained(output)
    # safetensors files are written owner-only; a file shipped inside a package must be readable by everyone.
    os.chmod(output / "model.safetensors", 0o644)
    # A fresh tokenizer: the periodic evaluation's padded calls leave padding enabled on the training one's backend,
    # which `tokenizer.json` would record, so that the file would depend on `--eval-every`.
    _save_tokenizer(build_tokenizer(task.characters, task.max_positions), output)

    # Evaluate what was written, reloaded from disk, exactly as users will load it.
    reloaded_model, reloaded_tokenizer = load_tiny_policy(path=str(output))
    check_reloaded_tokenizer(tokenizer, reloaded_tokenizer, _tokenizer_probes(task))
    model, tokenizer = reloaded_model, reloaded_tokenizer
    problems = task.generate_problems(readme_problems, seed=EVAL_SEED, split="test")
    figures = evaluate_pass_at_1(
        model,
        tokenizer,
        problems,
        num_samples=EVAL_SAMPLES,
        seed=EVAL_SEED,
        max_new_tokens=task.max_new_tokens,
        score=task.score,
    )
    summary = {
        "task": task.name,
        "steps": step,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "train_seconds": train_seconds,
        "num_parameters": num_parameters,
        "vocab_size": len(tokenizer),
        "eval": figures,
        "sample_entropy": _sampled_entropy(
            model, tokenizer, problems[:ENTROPY_PROBLEMS], max_new_tokens=task.max_new_tokens
        ),
        "entropy_problems": len(problems[:ENTROPY_PROBLEMS]),
    }
    if task.pass_at_k_problems > 0:
        # Drawn on their own rather than cut from `problems`, so that `benchmarks/pass_at_k_curve.py` (which draws
        # `generate_problems(n, ...)`) reproduces the README's curve.
        curve_problems = task.generate_problems(
            min(task.pass_at_k_problems, readme_problems), seed=EVAL_SEED, split="test"
        )
        summary["pass_at_k"] = measure_pass_at_k(
            model,
            tokenizer,
            curve_problems,
            task.score,
            num_samples=PASS_AT_K_SAMPLES,
            max_new_tokens=task.max_new_tokens,
        )
    _write_readme(output, task, summary)
    print(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> dict:
    """
    Command-line entry point: `python -m trl_entropy.tasks.build_policy [--task countdown-steps] [--output-dir DIR]`.

    Args:
        argv (`list[str]` or `None`, *optional*, defaults to `None`):
            Arguments; `None` reads `sys.argv`.

    Returns:
        `dict`: The build summary.
    """
    from ..cli_parsers import build_policy_parser  # a leaf module: `trl-entropy build-policy --help` is instant

    args = build_policy_parser().parse_args(argv)
    task = policy_task(args.task)
    return build_policy(
        task.output_dir if args.output_dir is None else args.output_dir,
        steps=args.steps,
        seed=args.seed,
        batch_size=args.batch_size,
        lr=args.lr,
        seconds=args.seconds,
        eval_every=args.eval_every,
        eval_problems=args.eval_problems,
        task=task,
    )


if __name__ == "__main__":
    main()
