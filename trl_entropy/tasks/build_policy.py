"""Builds the tiny Countdown policy shipped in `trl_entropy/policies/tiny_countdown`.

Usage:

```bash
python -m trl_entropy.tasks.build_policy --output-dir trl_entropy/policies/tiny_countdown
```

The policy is a ~0.8M-parameter `Qwen2ForCausalLM` with a character-level tokenizer, warm-started by supervised
fine-tuning on (prompt, one random valid solution, EOS) traces from the train split, with the loss on the completion
only. Training stops after a fixed number of optimizer steps (not wall time) so the build is reproducible, and stops
early on purpose: the policy must solve a fair share of held-out problems when sampling at temperature 1.0 while
keeping enough entropy (and enough failures) for GRPO to improve on.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import torch

from .countdown import TINY_POLICY_PATH, evaluate_pass_at_1, generate_problems, load_tiny_policy, sample_problems


SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")
# Every character a prompt or an answer can contain: digits, operators, the prompt separators and the space.
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

# Held-out evaluation used for the README figures.
EVAL_PROBLEMS = 500
EVAL_SAMPLES = 8
EVAL_SEED = 0


def _byte_level_symbol(char: str) -> str:
    # GPT-2 style byte-level alphabet: printable ASCII maps to itself, the space byte (0x20) to "\u0120" ("Ġ").
    return "\u0120" if char == " " else char


def build_tokenizer():
    """
    Builds the character-level tokenizer of the tiny policy.

    The model is a BPE with no merges over a byte-level alphabet, which makes it exactly one token per character. It
    is built that way (rather than, say, a WordLevel model) because `AutoTokenizer` in transformers 5 always loads
    `qwen2` checkpoints as `Qwen2Tokenizer`, which rebuilds a byte-level BPE pipeline around the saved vocabulary: a
    merge-free byte-level BPE tokenizes identically under that pipeline and under its own.

    Returns:
        `transformers.PreTrainedTokenizerFast`: A tokenizer with 19 tokens (`<pad>`, `<bos>`, `<eos>`, the digits,
        `+ - * = :` and space), left padding and no automatically added special tokens, so that TRL's
        `add_special_tokens=False` tokenization and a plain call give the same ids.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS + tuple(map(_byte_level_symbol, CHARACTERS)))}
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
        model_max_length=MAX_POSITIONS,
    )


def _save_tokenizer(tokenizer, output: Path) -> None:
    tokenizer.save_pretrained(output)
    config_path = output / "tokenizer_config.json"
    tokenizer_config = json.loads(config_path.read_text())
    # Name the class `AutoTokenizer` really instantiates for a qwen2 checkpoint, and pin `unk_token` to null: otherwise
    # `Qwen2Tokenizer` adds its default "<|endoftext|>" as a 20th token the 19-row embedding does not have.
    tokenizer_config["tokenizer_class"] = "Qwen2Tokenizer"
    tokenizer_config["unk_token"] = None
    config_path.write_text(json.dumps(tokenizer_config, indent=2, sort_keys=True) + "\n")
    # Recent transformers keep special tokens in tokenizer_config.json only; this file helps older loaders and readers.
    special = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"}
    (output / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")


def _check_reloaded_tokenizer(tokenizer, reloaded) -> None:
    # The tokenizer users get from `AutoTokenizer` must agree with the one used for training, id for id.
    texts = ["3 7 12=33:3*7+12<eos>", "12 12 12=1728:12*12*12", " 0123456789+-*=: <pad><bos><eos>"]
    for text in texts:
        expected = tokenizer(text, add_special_tokens=False).input_ids
        for ids in (reloaded(text, add_special_tokens=False).input_ids, reloaded(text).input_ids):
            if ids != expected:
                raise RuntimeError(f"Reloaded tokenizer disagrees on {text!r}: {ids} != {expected}")
        if reloaded.decode(expected) != text:
            raise RuntimeError(f"Reloaded tokenizer does not round-trip {text!r}")
    if len(reloaded) != len(tokenizer) or reloaded.padding_side != "left":
        raise RuntimeError(f"Reloaded tokenizer has {len(reloaded)} tokens, padding side {reloaded.padding_side}")


def build_config(tokenizer):
    """
    Builds the `Qwen2Config` of the tiny policy (790,912 parameters with the 19-token vocabulary).

    Args:
        tokenizer (`transformers.PreTrainedTokenizerBase`):
            Tokenizer from [`build_tokenizer`], for the vocabulary size and special token ids.

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
        max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        use_cache=True,
    )


def _encode_batch(problems, rng, char_to_id, pad_id, eos_id):
    # Right-padded prompt + one random valid solution + EOS; the labels mask the prompt and the padding so the loss
    # is on the completion only. Sampling a different solution each time keeps the policy spread over all answers.
    sequences, prompt_lengths = [], []
    for problem in problems:
        completion = rng.choice(problem["solutions"])
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


@torch.no_grad()
def _sampled_entropy(model, tokenizer, problems, num_samples: int = 4, seed: int = EVAL_SEED) -> float:
    # Mean per-token entropy (nats) of the policy along its own temperature-1.0 samples, EOS included: a quick check
    # that the warm start still spreads probability over several answers, which GRPO needs to explore.
    inputs = tokenizer([p["prompt"] for p in problems], return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        output = model.generate(
            **inputs,
            do_sample=True,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            max_new_tokens=12,
            num_return_sequences=num_samples,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            output_logits=True,
            return_dict_in_generate=True,
        )
    logits = torch.stack(output.logits, dim=1).float()
    log_probs = logits.log_softmax(-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    completion = output.sequences[:, inputs["input_ids"].shape[1] :]
    # Positions after the EOS are padding appended by `generate`; the EOS step itself counts.
    is_eos = (completion == tokenizer.eos_token_id).long()
    mask = ((is_eos.cumsum(-1) - is_eos) == 0).float()
    return float((entropy * mask).sum() / mask.sum())


def _write_readme(output_dir: Path, summary: dict) -> None:
    figures = summary["eval"]
    text = f"""# tiny_countdown

The default policy of `trl_entropy.tasks`: a {summary["num_parameters"]:,}-parameter `Qwen2ForCausalLM` (hidden 128,
3 layers, 4 heads, 4 KV heads, intermediate 512, tied embeddings, fp32 safetensors) for the Countdown task of
`trl_entropy.tasks.countdown`. Prompt `"3 7 12=33:"`, expected completion an expression such as `"3*7+12"`, then
`<eos>`.

The tokenizer has {summary["vocab_size"]} tokens, one per character (`<pad>` 0, `<bos>` 1, `<eos>` 2, digits, `+ - * = :`
and space). It is a merge-free byte-level BPE, so `AutoTokenizer` (which loads every `qwen2` checkpoint as
`Qwen2Tokenizer` in transformers 5) tokenizes exactly as in training. No special token is added automatically, left
padding.

## How it was built

`python -m trl_entropy.tasks.build_policy --output-dir trl_entropy/policies/tiny_countdown --seed {summary["seed"]}`

Supervised warm start from random initialisation on train-split traces (prompt + one uniformly chosen valid
solution + EOS, loss on the completion only): {summary["steps"]} AdamW steps of batch {summary["batch_size"]}, lr
{summary["lr"]} ({WARMUP_STEPS}-step linear warmup, then constant), gradient clipping 1.0, seed {summary["seed"]},
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
| mean per-token entropy of samples (nats; 200 problems x 4) | {summary["sample_entropy"]:.3f} |

Reproduce: `python -m trl_entropy.tasks.countdown --model default --split test --num-problems
{figures["num_problems"]} --num-samples {figures["num_samples"]}`.
"""
    (output_dir / "README.md").write_text(text)


def build_policy(
    output_dir: str,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float = DEFAULT_LR,
    seconds: float | None = None,
    eval_every: int = 0,
    eval_problems: int = 200,
) -> dict:
    """
    Trains the tiny Countdown policy and writes it (weights, tokenizer, README) to a directory.

    Args:
        output_dir (`str`):
            Directory to write; created if missing.
        steps (`int`, *optional*, defaults to `DEFAULT_STEPS`):
            Number of optimizer steps; the stopping criterion that makes the build reproducible.
        seed (`int`, *optional*, defaults to `0`):
            Seed for the initialisation and the data stream.
        batch_size (`int`, *optional*, defaults to `128`):
            Sequences per optimizer step.
        lr (`float`, *optional*, defaults to `2e-3`):
            AdamW learning rate after warmup.
        seconds (`float` or `None`, *optional*, defaults to `None`):
            Optional extra wall-clock cap, for exploration only: a build stopped by it is not reproducible.
        eval_every (`int`, *optional*, defaults to `0`):
            If positive, prints held-out pass@1 every that many steps (does not affect training).
        eval_problems (`int`, *optional*, defaults to `200`):
            Test problems used by the periodic evaluation.

    Returns:
        `dict`: Build summary (steps, wall time, parameter count, final held-out figures).
    """
    from transformers import GenerationConfig, Qwen2ForCausalLM

    # Same thread count and deterministic kernels on every build: CPU float reductions depend on how work is split,
    # and the shipped weights should be reproducible bit for bit.
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)

    tokenizer = build_tokenizer()
    char_to_id = {c: tokenizer.convert_tokens_to_ids(_byte_level_symbol(c)) for c in CHARACTERS}
    # The training loop encodes with this dict (much faster than the tokenizer); make sure the two agree.
    probe = "3 7 12=33:3*7+12 0456789-"
    if tokenizer(probe, add_special_tokens=False).input_ids != [char_to_id[c] for c in probe]:
        raise RuntimeError("character map and tokenizer disagree")
    config = build_config(tokenizer)
    model = Qwen2ForCausalLM(config)
    num_parameters = sum(p.numel() for p in model.parameters())
    print(f"model: {num_parameters:,} parameters, vocabulary {len(tokenizer)} tokens")

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / WARMUP_STEPS))
    rng = random.Random(f"sft-{seed}")
    eval_set = generate_problems(eval_problems, seed=EVAL_SEED, split="test") if eval_every > 0 else []

    model.train()
    start = time.perf_counter()
    running_loss, step = 0.0, 0
    while step < steps:
        if seconds is not None and time.perf_counter() - start > seconds:
            print(f"stopping at step {step} on the --seconds cap: this build is NOT reproducible")
            break
        problems = sample_problems(batch_size, seed=seed * 1_000_003 + step, split="train")
        input_ids, attention_mask, labels = _encode_batch(
            problems, rng, char_to_id, tokenizer.pad_token_id, tokenizer.eos_token_id
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
            figures = evaluate_pass_at_1(model, tokenizer, eval_set, num_samples=4, seed=EVAL_SEED)
            print(f"  eval step {step}: pass@1 {figures['pass_at_1']:.3f}  greedy {figures['greedy_accuracy']:.3f}")
    train_seconds = time.perf_counter() - start
    print(f"trained {step} steps in {train_seconds:.1f} s")

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=12,
    )
    model.save_pretrained(output)
    # safetensors files are written owner-only; a file shipped inside a package must be readable by everyone.
    os.chmod(output / "model.safetensors", 0o644)
    _save_tokenizer(tokenizer, output)

    # Evaluate what was written, reloaded from disk, exactly as users will load it.
    reloaded_model, reloaded_tokenizer = load_tiny_policy(path=str(output))
    _check_reloaded_tokenizer(tokenizer, reloaded_tokenizer)
    model, tokenizer = reloaded_model, reloaded_tokenizer
    problems = generate_problems(EVAL_PROBLEMS, seed=EVAL_SEED, split="test")
    figures = evaluate_pass_at_1(model, tokenizer, problems, num_samples=EVAL_SAMPLES, seed=EVAL_SEED)
    summary = {
        "steps": step,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "train_seconds": train_seconds,
        "num_parameters": num_parameters,
        "vocab_size": len(tokenizer),
        "eval": figures,
        "sample_entropy": _sampled_entropy(model, tokenizer, problems[:200]),
    }
    _write_readme(output, summary)
    print(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> dict:
    """
    Command-line entry point: `python -m trl_entropy.tasks.build_policy --output-dir DIR [--seconds N] [--seed S]`.

    Args:
        argv (`list[str]` or `None`, *optional*, defaults to `None`):
            Arguments; `None` reads `sys.argv`.

    Returns:
        `dict`: The build summary.
    """
    from ..cli import build_policy_parser  # with the CLI, so that `trl-entropy build-policy --help` is instant

    parser = build_policy_parser()
    parser.set_defaults(output_dir=TINY_POLICY_PATH, steps=DEFAULT_STEPS, batch_size=DEFAULT_BATCH_SIZE, lr=DEFAULT_LR)
    args = parser.parse_args(argv)
    return build_policy(
        args.output_dir,
        steps=args.steps,
        seed=args.seed,
        batch_size=args.batch_size,
        lr=args.lr,
        seconds=args.seconds,
        eval_every=args.eval_every,
        eval_problems=args.eval_problems,
    )


if __name__ == "__main__":
    main()
