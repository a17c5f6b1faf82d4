# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""
SENT scoring: the semantic entropy of every training prompt under the starting policy (arXiv 2512.04359).

For each prompt, `num_samples` completions are sampled, their final answers extracted and clustered by equivalence,
and the prompt's score is the entropy of the cluster sizes ([`~trl_entropy.functional.semantic_entropy`]).

Sampling runs through the shared chunk loop ([`~trl_entropy.sampling.chunks.sample_chunks`]): fixed chunks of
`batch_size // num_samples` prompts, each sampled with its own seed, so that the scores do not depend on which
chunks were already done or on how many processes share them. Results are cached on disk under a key of the model,
the dataset and every setting ([`~trl_entropy.sampling.cache.SampleCache`]): finished chunks are appended to a part
file as they complete, a rerun after an interruption samples only the missing chunks, and a rerun of a finished
scoring samples nothing.

The command line (`trl-entropy curriculum`) and the score distribution are in [`~trl_entropy.sent.scoring`], which
re-exports everything defined here; this module does not import the curriculum, which scores through it.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..eval.answers import CountdownGrader, CountdownStepsGrader
from ..eval.evaluator import (
    DEFAULT_MAX_NEW_TOKENS,
    _load_hf,
    check_no_answers,
    check_sampling_settings,
    resolve_model_name,
)
from ..eval.limits import check_generation_fits, prompt_token_lengths
from ..fingerprint import tensors_fingerprint, weights_fingerprint
from ..sampling.backends import eval_mode, hf_sampler, vllm_sampler
from ..sampling.cache import SampleCache, merge_records, write_atomic
from ..sampling.chunks import sample_chunks
from ..sampling.processes import barrier, gather_objects, process_info
from ..tasks.names import TINY_POLICY_NAME
from .semantic_entropy import (
    _math_grader,
    answer_clusters,
    check_no_answer_policy,
    entropy_of_cluster_sizes,
)


TASKS = ("auto", "countdown", "countdown-steps", "math")
# How `task="auto"` tells the step-by-step task from countdown: both datasets have `numbers` and `target` columns,
# but only the step-by-step task's problems have four numbers (countdown's have three).
STEPS_NUM_NUMBERS = 4
SCORES_FILENAME = "scores.jsonl"
SETTINGS_FILENAME = "settings.json"
# Written by each process while it works; merged into `scores.jsonl` at the end and then removed.
PART_PATTERN = "scores.part-{rank}.jsonl"
# Bumped when the records or the cache key change meaning: older caches are then ignored, not misread.
CACHE_FORMAT = 1
# Files of a checkpoint directory that change what is sampled besides the weights: the generation config (EOS ids)
# and the tokenizer (prompt tokens, chat template).
_CHECKPOINT_TEXT_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
)


@dataclass
class SemanticEntropyScores:
    """Semantic entropy of each prompt of a dataset, as returned by [`score_semantic_entropy`]."""

    scores: list[float]
    """Semantic entropy (nats) of each dataset row, in row order; `nan` for a row without any answer under the
    `"ignore"` policy."""
    records: list[dict[str, Any]]
    """Per row: `index`, `semantic_entropy`, `cluster_sizes` (answer clusters in order of first appearance, then the
    no-answer cluster(s)), `num_no_answer`, `answers` (the extracted answer of each sample, `None` for none),
    `num_truncated` (samples that hit `max_new_tokens`)."""
    cache_path: str
    """Cache directory of this scoring: `settings.json` and `scores.jsonl`."""
    settings: dict[str, Any] = field(default_factory=dict)
    """Everything the cache key is made of: model and dataset fingerprints and the sampling settings."""
    num_generated: int = 0
    """Prompts sampled by this call, over all processes (0 when every score came from the cache)."""


# ---------------------------------------------------------------------------------------------------------------------
# Fingerprints and cache
# ---------------------------------------------------------------------------------------------------------------------


def default_cache_dir() -> str:
    """
    Where scores are cached when no `cache_dir` is given.

    Returns:
        `str`: `$TRL_ENTROPY_CACHE/semantic_entropy`, else `~/.cache/trl_entropy/semantic_entropy`.
    """
    root = os.environ.get("TRL_ENTROPY_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "trl_entropy")
    return os.path.join(root, "semantic_entropy")


def model_fingerprint(model: Any, tokenizer: Any = None, revision: str | None = None) -> str:
    """
    A fingerprint of a policy that changes when its samples can change, cheap to compute for large checkpoints.

    - A local checkpoint directory: its config, generation config and tokenizer files, and the full contents of its
      weight files ([`~trl_entropy.fingerprint.weights_fingerprint`], the fingerprint evaluations carry): a hash of
      only part of each file could miss a retraining that left those parts unchanged (frozen embeddings, say).
    - A model id (not a local directory): the id and `revision`.
    - A loaded model: its `name_or_path`, its EOS ids and its full state dict
      ([`~trl_entropy.fingerprint.tensors_fingerprint`]).

    With a `tokenizer`, its name, size, special tokens and chat template are added.

    Args:
        model (`str` or `transformers.PreTrainedModel`):
            A path, a model id ([`~trl_entropy.eval.evaluator.resolve_model_name`] aliases included) or a model.
        tokenizer (`transformers.PreTrainedTokenizerBase`, *optional*):
            Tokenizer used with `model`, when it is not the checkpoint's own.
        revision (`str`, *optional*):
            Revision of a model id.

    Returns:
        `str`: A sha256 hex digest.
    """
    digest = hashlib.sha256()
    if not isinstance(model, str | os.PathLike):
        digest.update(str(getattr(model, "name_or_path", type(model).__name__)).encode())
        digest.update(tensors_fingerprint(model).encode())
        generation_config = getattr(model, "generation_config", None)
        digest.update(str(getattr(generation_config, "eos_token_id", None)).encode())
    elif os.path.isdir(resolve_model_name(os.fspath(model))):
        path = resolve_model_name(os.fspath(model))
        for name in _CHECKPOINT_TEXT_FILES:
            if os.path.isfile(os.path.join(path, name)):
                digest.update(name.encode())
                with open(os.path.join(path, name), "rb") as f:
                    digest.update(f.read())
        digest.update(str(weights_fingerprint(path)).encode())
    else:
        digest.update(json.dumps({"model_id": os.fspath(model), "revision": revision}).encode())
    # A tokenizer passed explicitly replaces the checkpoint's.
    if tokenizer is not None:
        described = {
            "name": getattr(tokenizer, "name_or_path", None),
            "size": len(tokenizer),
            "special_tokens": {key: str(value) for key, value in tokenizer.special_tokens_map.items()},
            "chat_template": getattr(tokenizer, "chat_template", None),
        }
        digest.update(json.dumps(described, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def dataset_fingerprint(dataset, columns: Sequence[str]) -> str:
    """
    A fingerprint of the columns of a dataset that scoring reads, from their values (JSON, in row order), not from
    `datasets`' own fingerprints (which can be random for in-memory datasets).

    Args:
        dataset ([`datasets.Dataset`]):
            The dataset.
        columns (`Sequence[str]`):
            The columns to hash.

    Returns:
        `str`: A sha256 hex digest.
    """
    digest = hashlib.sha256(json.dumps({"num_rows": len(dataset), "columns": list(columns)}).encode())
    plain = dataset.with_format(None)
    for column in columns:
        for value in plain[column]:
            digest.update(json.dumps(value, sort_keys=True, default=str).encode())
            digest.update(b"\n")
    return digest.hexdigest()


def _callable_id(function: Callable | None) -> str | None:
    # Name plus source: editing the function's body changes the key (a closure's captured values do not).
    if function is None:
        return None
    name = f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', repr(function))}"
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return name
    return f"{name}:{hashlib.sha256(source.encode()).hexdigest()[:16]}"


def _check_cache_settings(path: str, settings: dict[str, Any]) -> None:
    settings_path = os.path.join(path, SETTINGS_FILENAME)
    if os.path.isfile(settings_path):
        with open(settings_path) as f:
            saved = json.load(f)
        saved.pop("model", None)
        if saved != {name: value for name, value in json.loads(json.dumps(settings)).items() if name != "model"}:
            raise ValueError(
                f"The cache directory {path} holds scores made with other settings; remove it or pass another "
                "`cache_dir`."
            )
    else:
        write_atomic(settings_path, json.dumps(settings, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------------------------------
# Tasks and prompts
# ---------------------------------------------------------------------------------------------------------------------


_COUNTDOWN_GRADER = CountdownGrader()
_COUNTDOWN_STEPS_GRADER = CountdownStepsGrader()


def _countdown_answer(completion: str, row: dict[str, Any]) -> int | None:
    # The value of a valid expression over the problem's numbers; whether it hits the target does not matter here.
    return _COUNTDOWN_GRADER.extract(completion, row["numbers"])[1]


def _countdown_steps_answer(completion: str, row: dict[str, Any]) -> int | None:
    # The final number of a valid trace over the problem's numbers, whatever the target.
    return _COUNTDOWN_STEPS_GRADER.extract(completion, row["numbers"])[1]


def _math_answer(completion: str, row: dict[str, Any]) -> str | None:
    return _math_grader().extract(completion)[0]


def _canonical_answer(answer: str | None) -> str | None:
    # A numeric answer as its exact value (`1,234` and `1234.0` -> "1234", `0.75` -> "3/4"), anything else as is.
    from ..eval.plain_text import parse_number

    if answer is None:
        return None
    value = parse_number(answer)
    return answer if value is None else str(value)


def plain_answer_equivalence(answer_a: Any, answer_b: Any) -> bool:
    """Equivalence of answers extracted with `grader="plain"`: the same exact value (or the same text)."""
    if answer_a is None or answer_b is None:
        return False
    from ..eval.plain_text import answer_key

    return answer_key(str(answer_a)) == answer_key(str(answer_b))


@dataclass(frozen=True)
class _MathExtractor:
    # extract(completion, row) of math prompts under a grader and an optional answer extractor.
    grader: str
    extractor: Callable[[str], str | None] | None

    def __call__(self, completion: str, row: dict[str, Any]) -> str | None:
        from ..eval.plain_text import PlainTextGrader, call_extractor

        if self.extractor is not None:
            answer = call_extractor(self.extractor, completion)
            return _canonical_answer(answer) if self.grader != "math" else answer
        if self.grader == "plain":
            return _canonical_answer(PlainTextGrader().extract(completion)[0])
        if self.grader == "math+plain":
            return _canonical_answer(_plain_fallback_grader().extract(completion)[0])
        return _math_grader().extract(completion)[0]


_PLAIN_FALLBACK_GRADER = []


def _plain_fallback_grader():
    # One math-verify grader with the plain-text fallback for every call (creating it imports sympy).
    if not _PLAIN_FALLBACK_GRADER:
        from ..eval.answers import MathGrader

        _PLAIN_FALLBACK_GRADER.append(MathGrader(plain_text=True))
    return _PLAIN_FALLBACK_GRADER[0]


def apply_prompt_template(dataset, template: str, conversational: bool):
    """
    The dataset with its `prompt` column built from a template: `{problem}` replaced by the row's `problem` (else
    `question`, else its plain-string `prompt`).

    Args:
        dataset ([`datasets.Dataset`]):
            The prompt dataset.
        template (`str`):
            Template holding `{problem}` (checked by `trl_entropy.eval.benchmarks.check_prompt_template`).
        conversational (`bool`):
            Write each prompt as one user message (for a tokenizer with a chat template, as `trl-entropy eval`
            does) rather than as plain text.

    Returns:
        [`datasets.Dataset`]: The dataset with the new `prompt` column (the curriculum trains on these prompts).
    """
    from ..eval.benchmarks import check_prompt_template

    check_prompt_template(template)
    source = next((name for name in ("problem", "question") if name in dataset.column_names), None)
    if source is None:
        if "prompt" not in dataset.column_names or not all(isinstance(p, str) for p in dataset["prompt"]):
            raise ValueError(
                "A prompt template needs a `problem` or `question` column, or plain-string prompts; got columns "
                f"{dataset.column_names}."
            )
        source = "prompt"
    texts = [template.replace("{problem}", str(problem)) for problem in dataset[source]]
    prompts = [[{"role": "user", "content": text}] for text in texts] if conversational else texts
    if "prompt" in dataset.column_names:
        dataset = dataset.remove_columns("prompt")
    return dataset.add_column("prompt", prompts)


def _resolve_task(task: str | Callable, dataset) -> tuple[str, Callable, list[str]]:
    # (name, extract(completion, row), columns the extractor reads)
    if callable(task):
        return "custom", task, list(dataset.column_names)
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {TASKS} or a callable `extract(completion, row)`, got {task!r}.")
    if task == "auto":
        task = "countdown" if {"numbers", "target"} <= set(dataset.column_names) else "math"
        if task == "countdown" and all(len(numbers) == STEPS_NUM_NUMBERS for numbers in dataset["numbers"]):
            task = "countdown-steps"
    if task in ("countdown", "countdown-steps"):
        missing = [name for name in ("numbers", "target") if name not in dataset.column_names]
        if missing:
            raise ValueError(f"`task` {task!r} needs the dataset columns `numbers` and `target`; missing {missing}.")
        extract = _countdown_answer if task == "countdown" else _countdown_steps_answer
        return task, extract, ["prompt", "numbers", "target"]
    return "math", _math_answer, ["prompt"]


def _is_conversational(prompt: Any) -> bool:
    from trl.data_utils import is_conversational

    return is_conversational({"prompt": prompt})


def prompt_texts(prompts: Sequence[Any], tokenizer: Any) -> tuple[list[str], bool]:
    """
    The generation prompts of a dataset's `prompt` column, as TRL's `GRPOTrainer` builds them.

    Conversational prompts (lists of messages) go through the tokenizer's chat template with the generation prompt
    (TRL's `maybe_apply_chat_template`); the template writes its own special tokens, so they are tokenized without
    adding any. Plain strings are kept and tokenized with the tokenizer's defaults, as TRL 1.16 does.

    Args:
        prompts (`Sequence[str | list[dict]]`):
            The `prompt` column.
        tokenizer (`transformers.PreTrainedTokenizerBase`):
            Tokenizer of the policy.

    Returns:
        `tuple[list[str], bool]`: The prompt texts, and whether to add special tokens when tokenizing them.
    """
    if not prompts or not _is_conversational(prompts[0]):
        return [str(prompt) for prompt in prompts], True
    from trl.data_utils import maybe_apply_chat_template

    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise ValueError("The dataset's prompts are conversational but the tokenizer has no chat template.")
    return [maybe_apply_chat_template({"prompt": prompt}, tokenizer)["prompt"] for prompt in prompts], False


# ---------------------------------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------------------------------


def _check_dataset(dataset) -> None:
    from datasets import Dataset

    if not isinstance(dataset, Dataset):
        raise TypeError(f"`dataset` must be a `datasets.Dataset`, got {type(dataset).__name__}.")
    if "prompt" not in dataset.column_names:
        raise ValueError(f"`dataset` must have a `prompt` column, got columns {dataset.column_names}.")
    if len(dataset) == 0:
        raise ValueError("`dataset` must hold at least one row, got an empty dataset.")


def _check_prompts_fit(dataset, model: Any, model_path: str | None, tokenizer: Any, max_new_tokens: int) -> None:
    # The longest prompt, tokenized as generation tokenizes it, plus `max_new_tokens` within the model's positions.
    if tokenizer is None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_path)
    prompts, add_special_tokens = prompt_texts(dataset.with_format(None)["prompt"][:], tokenizer)
    lengths = prompt_token_lengths(tokenizer, prompts, add_special_tokens)
    check_generation_fits(lengths, max_new_tokens, model.config if model_path is None else model_path)


def score_semantic_entropy(
    dataset,
    model: Any = TINY_POLICY_NAME,
    *,
    tokenizer: Any = None,
    task: str | Callable[[str, dict[str, Any]], Any] = "auto",
    equivalent: Callable[[Any, Any], bool] | None = None,
    no_answer: str = "cluster",
    num_samples: int = 8,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_new_tokens: int | None = None,
    batch_size: int = 64,
    seed: int = 0,
    backend: str = "hf",
    cache_dir: str | None = None,
    dtype: str = "auto",
    revision: str | None = None,
    show_progress: bool = True,
    grader: str = "math",
    answer_extractor: Callable[[str], str | None] | str | None = None,
    allow_no_answers: bool = False,
) -> SemanticEntropyScores:
    r"""
    Score every prompt of a dataset by the semantic entropy of `num_samples` answers sampled from a policy (SENT).

    The scores are cached in `cache_dir/<key>/`, where the key is a hash of the model (see [`model_fingerprint`]),
    the dataset (see [`dataset_fingerprint`]) and every setting below: a second call with the same inputs reads
    `scores.jsonl` and samples nothing, and a call interrupted part-way resumes from the chunks already written. Under
    `accelerate launch` / `torchrun` the processes share the chunks and every process returns all the scores.

    Args:
        dataset ([`datasets.Dataset`]):
            Prompt dataset with a `prompt` column: plain strings, or conversational lists of messages (formatted with
            the tokenizer's chat template and its generation prompt, as TRL does).
        model (`str` or `transformers.PreTrainedModel`, *optional*, defaults to `"trl-entropy/tiny-countdown"`):
            The starting policy: a checkpoint directory or model id (loaded with `AutoModelForCausalLM`, no remote
            code; `trl-entropy/tiny-countdown` is the shipped tiny policy), or a loaded model (then pass `tokenizer`;
            HF backend only).
        tokenizer (`transformers.PreTrainedTokenizerBase`, *optional*):
            Tokenizer of a loaded `model`; with a path, the checkpoint's own is used unless this is given.
        task (`str` or `Callable`, *optional*, defaults to `"auto"`):
            How a completion becomes an answer. `"countdown"`: the value of a valid expression over the row's
            `numbers` (equivalence `==`); `"countdown-steps"`: the final number of a valid step-by-step trace over
            them (`==`); `"math"`: the final answer string (last `\boxed{}`, else an announced LaTeX answer;
            equivalence by math-verify); a callable `extract(completion, row)` returning a JSON-serialisable answer or
            `None`. `"auto"` is countdown-steps when the dataset has `numbers` and `target` columns and every row has
            four numbers, countdown when it has those columns otherwise (countdown's problems have three), else math.
        equivalent (`Callable[[Any, Any], bool]`, *optional*):
            Answer equivalence; defaults to
            [`~trl_entropy.functional.semantic_entropy.math_answer_equivalence`] (math-verify for strings, `==`
            otherwise).
        no_answer (`str`, *optional*, defaults to `"cluster"`):
            Samples without an answer: `"cluster"` (one shared cluster), `"singleton"` (one cluster each) or
            `"ignore"` (not counted; `nan` when no sample has an answer).
        num_samples (`int`, *optional*, defaults to `8`):
            Samples per prompt (N).
        temperature (`float`, *optional*, defaults to `1.0`), top_p (`float`, *optional*, defaults to `1.0`):
            Sampling settings (no top-k truncation).
        max_new_tokens (`int`, *optional*):
            Length cap; defaults to 12 for countdown, 26 for countdown-steps and 2048 for math (and a callable
            `task`).
        batch_size (`int`, *optional*, defaults to `64`):
            Sequences per generation call (a chunk is `max(1, batch_size // num_samples)` prompts).
        seed (`int`, *optional*, defaults to `0`):
            Sampling seed.
        backend (`str`, *optional*, defaults to `"hf"`):
            `"hf"` (`model.generate`) or `"vllm"` (requires `pip install vllm`; one process).
        cache_dir (`str`, *optional*):
            Root of the cache; defaults to [`default_cache_dir`].
        dtype (`str`, *optional*, defaults to `"auto"`):
            Dtype for loading `model` from a path.
        revision (`str`, *optional*):
            Revision of a Hub model id.
        show_progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar (main process).
        grader (`str`, *optional*, defaults to `"math"`):
            How math answers are read (`trl_entropy.eval.benchmarks.GRADERS`): `"math"` (as above), `"math+plain"`
            (then a plain-text final answer such as "The answer is 12") or `"plain"` (`\boxed{}` else plain text,
            numbers compared by exact value; the default `equivalent` is then exact equality of values). Numeric
            answers of the plain-text path are recorded by their exact value (`"1,200"` as `"1200"`).
        answer_extractor (`Callable` or `str`, *optional*):
            Replaces the extraction of math answers: a function of the completion text returning the answer string
            or `None`, or its import path `package.module.function`.
        allow_no_answers (`bool`, *optional*, defaults to `False`):
            For math, more than half of the samples without an extractable answer raises
            `trl_entropy.eval.evaluator.NoAnswersError` once every prompt is scored (the scores stay cached, so a
            rerun with `True` samples nothing); with `True` it warns and scores them.

    Returns:
        [`SemanticEntropyScores`]: The score and record of every row, the cache directory and the settings.
    """
    _check_dataset(dataset)
    from ..eval.benchmarks import GRADERS

    if grader not in GRADERS:
        raise ValueError(f"`grader` must be one of {GRADERS}, got {grader!r}.")
    if isinstance(answer_extractor, str):
        from ..import_path import import_callable

        answer_extractor = import_callable(answer_extractor, "answer extractor")
    kind, extract, columns = _resolve_task(task, dataset)
    if grader != "math" or answer_extractor is not None:
        if kind != "math":
            raise ValueError(f"`grader` and `answer_extractor` apply to math prompts, not to the {kind} task.")
        extract = _MathExtractor(grader, answer_extractor)
        if equivalent is None and grader == "plain":
            equivalent = plain_answer_equivalence
    if max_new_tokens is None:
        max_new_tokens = DEFAULT_MAX_NEW_TOKENS[kind if kind in ("countdown", "countdown-steps") else "math"]
    check_sampling_settings(num_samples, temperature, top_p, max_new_tokens, batch_size, backend)
    check_no_answer_policy(no_answer)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be an integer >= 0, got {seed!r}.")
    if equivalent is not None and not callable(equivalent):
        raise ValueError(f"`equivalent` must be a callable `equivalent(a, b) -> bool` or None, got {equivalent!r}.")
    if isinstance(model, str | os.PathLike):
        model_name, model_path = os.fspath(model), resolve_model_name(os.fspath(model))
    else:
        if tokenizer is None:
            raise ValueError("`tokenizer` is required when `model` is a loaded model.")
        if backend != "hf":
            raise ValueError(f"`backend` {backend!r} needs a model path, not a loaded model.")
        model_name, model_path = getattr(model, "name_or_path", None) or type(model).__name__, None
    # Prompts plus `max_new_tokens` must fit in the model's positions: checked before the cache directory is made,
    # from the local config (a Hub model is checked once loaded, with the HF backend).
    limit_checked = model_path is None or os.path.isfile(os.path.join(model_path, "config.json"))
    if limit_checked:
        _check_prompts_fit(dataset, model, model_path, tokenizer, max_new_tokens)

    settings = {
        "cache_format": CACHE_FORMAT,
        "model": model_name,
        "model_fingerprint": model_fingerprint(model, tokenizer, revision),
        "dtype": dtype if model_path is not None else None,
        "num_prompts": len(dataset),
        "dataset_fingerprint": dataset_fingerprint(dataset, columns),
        "task": kind if kind != "custom" else _callable_id(task),
        # Absent for the defaults, so that caches written before these settings existed still match.
        **({"grader": grader} if grader != "math" else {}),
        **({"answer_extractor": _callable_id(answer_extractor)} if answer_extractor is not None else {}),
        "equivalent": _callable_id(equivalent),
        "no_answer": no_answer,
        "num_samples": num_samples,
        "temperature": temperature,
        "top_p": top_p,
        "max_new_tokens": max_new_tokens,
        "batch_size": batch_size,
        "seed": seed,
        "backend": backend,
    }
    # The model's name is recorded but not part of the key: an alias and its path are the same policy.
    keyed = {name: value for name, value in settings.items() if name != "model"}
    key = hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()
    path = os.path.join(cache_dir or default_cache_dir(), key[:16])

    rank, world_size = process_info()
    if rank == 0:
        os.makedirs(path, exist_ok=True)
        _check_cache_settings(path, settings)
    barrier(world_size)
    cache = SampleCache(path, SCORES_FILENAME, PART_PATTERN, id_key="index", samples_key="answers")
    done = cache.load(num_samples)

    new_records: list[dict[str, Any]] = []
    if len(done) < len(dataset):
        if backend == "vllm":
            generate, engine_tokenizer = vllm_sampler(
                model_path, dtype, seed, num_samples, temperature, top_p, max_new_tokens, world_size, revision
            )
            tokenizer = engine_tokenizer if tokenizer is None else tokenizer
        else:
            if model_path is not None:
                model, loaded_tokenizer = _load_hf(model_path, dtype, revision)
                tokenizer = loaded_tokenizer if tokenizer is None else tokenizer
                if not limit_checked:
                    _check_prompts_fit(dataset, model, None, tokenizer, max_new_tokens)
        plain = dataset.with_format(None)
        prompts, add_special_tokens = prompt_texts(plain["prompt"][:], tokenizer)
        if backend == "hf":
            generate = hf_sampler(
                model, tokenizer, num_samples, temperature, top_p, max_new_tokens, add_special_tokens
            )
        row_columns = {name: plain[name][:] for name in columns if name != "prompt"} if kind != "custom" else None

        def make_record(index: int, samples: list[dict[str, Any]]) -> dict[str, Any]:
            row = (
                plain[index] if row_columns is None else {name: values[index] for name, values in row_columns.items()}
            )
            answers = [extract(sample["text"], row) for sample in samples]
            try:
                json.dumps(answers)
            except (TypeError, ValueError) as error:
                raise TypeError(
                    f"`task` must extract JSON-serialisable answers (or None), got {answers!r}."
                ) from error
            sizes = answer_clusters(answers, equivalent, no_answer)
            return {
                "index": index,
                "semantic_entropy": entropy_of_cluster_sizes(sizes),
                "cluster_sizes": sizes,
                "num_no_answer": sum(answer is None for answer in answers),
                "answers": answers,
                "num_truncated": sum(bool(sample["truncated"]) for sample in samples),
            }

        with eval_mode(model):
            new_records = sample_chunks(
                generate,
                prompts,
                list(range(len(dataset))),
                num_samples,
                batch_size,
                seed,
                make_record,
                set(done),
                rank,
                world_size,
                lambda records: cache.append(rank, records),
                show_progress,
                desc=f"semantic entropy ({num_samples} samples/prompt)",
            )
    new_records = gather_objects(new_records, world_size)

    records = merge_records(done, new_records, range(len(dataset)), id_key="index")
    if rank == 0 and (new_records or not os.path.isfile(cache.path)):
        cache.finish(records)
    barrier(world_size)
    if kind == "math":
        check_no_answers(records, allow_no_answers, stacklevel=2)
    return SemanticEntropyScores(
        scores=[float(record["semantic_entropy"]) for record in records],
        records=records,
        cache_path=path,
        settings=settings,
        num_generated=len(new_records),
    )
