# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""
SENT scoring from the command line (`trl-entropy curriculum`): score a prompt dataset by semantic entropy, summarise
the scores and save the dataset in curriculum order.

The scorer itself ([`score_semantic_entropy`], its fingerprints and cache) is [`~trl_entropy.sent.scorer`], re-exported
here under the names it has always had. It lives apart so that the curriculum
([`~trl_entropy.sent.curriculum.SemanticEntropyCurriculum.from_policy`]) can score through it while this command
builds curricula, without the two modules importing each other.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Sequence
from typing import Any

# The two blocks marked F401 also re-export, under the names this module has always had, everything the scorer
# module defines and the evaluator names this module used to import.
from ..eval.evaluator import (  # noqa: F401
    DEFAULT_MAX_NEW_TOKENS,
    NoAnswersError,
    _append_jsonl,
    _barrier,
    _finish_parts,
    _gather,
    _load_done_records,
    _load_hf,
    _process_info,
    _write_atomic,
    add_grading_arguments,
    check_no_answers,
    check_sampling_settings,
    hf_sampler,
    resolve_model_name,
    sample_chunks,
    vllm_generator,
)
from ..sampling.backends import BACKENDS
from ..sampling.cache import write_atomic
from ..sampling.processes import barrier, process_info
from ..tasks.names import DATASET_NAME, STEPS_DATASET_NAME, TINY_POLICY_NAME
from .scorer import (  # noqa: F401
    _CHECKPOINT_TEXT_FILES,
    _COUNTDOWN_GRADER,
    _COUNTDOWN_STEPS_GRADER,
    _PLAIN_FALLBACK_GRADER,
    CACHE_FORMAT,
    PART_PATTERN,
    SCORES_FILENAME,
    SETTINGS_FILENAME,
    STEPS_NUM_NUMBERS,
    TASKS,
    CountdownGrader,
    CountdownStepsGrader,
    SemanticEntropyScores,
    _callable_id,
    _canonical_answer,
    _check_cache_settings,
    _check_dataset,
    _check_prompts_fit,
    _countdown_answer,
    _countdown_steps_answer,
    _is_conversational,
    _math_answer,
    _math_grader,
    _MathExtractor,
    _plain_fallback_grader,
    _resolve_task,
    answer_clusters,
    apply_prompt_template,
    check_generation_fits,
    check_no_answer_policy,
    dataset_fingerprint,
    default_cache_dir,
    entropy_of_cluster_sizes,
    model_fingerprint,
    plain_answer_equivalence,
    prompt_texts,
    prompt_token_lengths,
    score_semantic_entropy,
    tensors_fingerprint,
    weights_fingerprint,
)
from .semantic_entropy import NO_ANSWER_POLICIES


SUMMARY_FILENAME = "score_summary.json"


# ---------------------------------------------------------------------------------------------------------------------
# Score distribution and command line
# ---------------------------------------------------------------------------------------------------------------------


def _quantile(ordered: Sequence[float], q: float) -> float:
    # Linear interpolation between order statistics (numpy's default method).
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def score_distribution(scores: Sequence[float], num_bins: int = 10) -> dict[str, Any]:
    """
    Summary of a dataset's semantic entropies: what a curriculum will be built from.

    Args:
        scores (`Sequence[float]`):
            Semantic entropy of each prompt; `nan` values (no answer at all, `"ignore"` policy) are counted apart.
        num_bins (`int`, *optional*, defaults to `10`):
            Bins of the histogram, of equal width over `[0, max score]`.

    Returns:
        `dict`: `count` (scores that are not `nan`), `num_nan`, `mean`, `quantiles` (`"0"`, `"25"`, `"50"`, `"75"`,
        `"100"`: linear interpolation), `zero_share` (share of the counted scores equal to 0: prompts whose samples
        all agree), and `histogram` (`edges`, `num_bins + 1` of them, and `counts`; the last bin includes its right
        edge). The statistics are `None` when no score is counted.
    """
    if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 1:
        raise ValueError(f"`num_bins` must be an integer >= 1, got {num_bins!r}.")
    values = sorted(float(score) for score in scores if not math.isnan(float(score)))
    summary: dict[str, Any] = {"count": len(values), "num_nan": len(scores) - len(values)}
    if not values:
        return {**summary, "mean": None, "quantiles": None, "zero_share": None, "histogram": None}
    top = values[-1]
    width = top / num_bins
    counts = [0] * num_bins
    for value in values:
        counts[min(int(value / width), num_bins - 1) if width > 0 else 0] += 1
    return {
        **summary,
        "mean": sum(values) / len(values),
        "quantiles": {str(q): _quantile(values, q / 100) for q in (0, 25, 50, 75, 100)},
        "zero_share": sum(value == 0 for value in values) / len(values),
        "histogram": {"edges": [width * i for i in range(num_bins + 1)], "counts": counts},
    }


def format_score_distribution(summary: dict[str, Any], bar_width: int = 40) -> str:
    """
    [`score_distribution`] as text: the statistics on one line, then one line per histogram bin.

    Args:
        summary (`dict`):
            Returned by [`score_distribution`].
        bar_width (`int`, *optional*, defaults to `40`):
            Characters of the longest bar.

    Returns:
        `str`: The text.
    """
    if summary["count"] == 0:
        return f"no scores ({summary['num_nan']} prompts without any answer)"
    quantiles = " ".join(f"q{q}={value:.3f}" for q, value in summary["quantiles"].items())
    lines = [
        f"{summary['count']} prompts, mean SE {summary['mean']:.3f} nats, {quantiles}, "
        f"SE = 0: {summary['zero_share']:.1%}"
        + (f", {summary['num_nan']} without any answer" if summary["num_nan"] else "")
    ]
    edges, counts = summary["histogram"]["edges"], summary["histogram"]["counts"]
    most = max(counts)
    for i, count in enumerate(counts):
        closing = "]" if i == len(counts) - 1 else ")"
        bar = "#" * round(bar_width * count / most)
        lines.append(f"[{edges[i]:.3f}, {edges[i + 1]:.3f}{closing} {count:6d} {bar}")
    return "\n".join(lines)


def load_prompt_dataset(
    name: str = DATASET_NAME,
    config: str | None = None,
    split: str = "train",
    size: int | None = None,
    seed: int = 0,
):
    """
    The dataset `trl-entropy curriculum` scores.

    Args:
        name (`str`, *optional*, defaults to `"trl-entropy/countdown"`):
            `trl-entropy/countdown` or `trl-entropy/countdown-steps` (an embedded task's train split), a directory
            written by `save_to_disk`, a `.jsonl` / `.json` / `.parquet` file, or a `datasets` name.
        config (`str`, *optional*), split (`str`, *optional*, defaults to `"train"`):
            Configuration and split of a `datasets` name (and the split of a saved `DatasetDict`).
        size (`int`, *optional*):
            Keep this many rows: the first ones, or for an embedded task that many problems drawn with `seed`.
        seed (`int`, *optional*, defaults to `0`):
            Seed of an embedded task's draw.

    Returns:
        [`datasets.Dataset`]: The dataset.
    """
    import datasets

    if name in (DATASET_NAME, STEPS_DATASET_NAME):
        import importlib

        task = importlib.import_module(
            "..tasks." + ("countdown" if name == DATASET_NAME else "countdown_steps"), __package__
        )
        return task.build_dataset(split="train", n=size, seed=seed)
    if os.path.isdir(name):
        dataset = datasets.load_from_disk(name)
    elif os.path.isfile(name):
        builders = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}
        builder = builders.get(os.path.splitext(name)[1].lower())
        if builder is None:
            raise ValueError(f"Unsupported dataset file {name!r}; expected one of {', '.join(builders)}.")
        dataset = datasets.load_dataset(builder, data_files=name, split="train")
    else:
        dataset = datasets.load_dataset(name, name=config, split=split)
    if isinstance(dataset, datasets.DatasetDict):
        dataset = dataset[split]
    return dataset if size is None else dataset.select(range(min(size, len(dataset))))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """`trl-entropy curriculum --model PATH --output-dir DIR [...]`: score a dataset, save it in curriculum order."""
    parser = argparse.ArgumentParser(
        prog="trl-entropy curriculum",
        description="Score every prompt by the semantic entropy of N sampled answers (SENT) and save the dataset "
        "ordered from low to high entropy, with `semantic_entropy` and `curriculum_stage` columns.",
    )
    parser.add_argument("--model", default=TINY_POLICY_NAME, help="Starting policy: checkpoint directory or model id.")
    parser.add_argument(
        "--dataset",
        default=DATASET_NAME,
        help=f"`{DATASET_NAME}` or `{STEPS_DATASET_NAME}` (embedded tasks), a `save_to_disk` directory, a "
        ".jsonl/.json/.parquet file, or a `datasets` name.",
    )
    parser.add_argument("--dataset-config", default=None, help="Configuration of a `datasets` name.")
    parser.add_argument("--dataset-split", default="train", help="Split of a `datasets` name or saved DatasetDict.")
    parser.add_argument("--dataset-size", type=int, default=None, help="Keep this many prompts (default: all).")
    parser.add_argument("--output-dir", required=True, help="Where the curriculum dataset is saved.")
    parser.add_argument("--num-samples", type=int, default=8, help="Answers sampled per prompt (N).")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument(
        "--max-new-tokens", type=int, default=None, help="Default: 12 (countdown), 26 (countdown-steps), 2048 (math)."
    )
    parser.add_argument("--batch-size", type=int, default=64, help="Sequences per generation call.")
    parser.add_argument("--seed", type=int, default=0, help="Sampling seed (also of the dataset draw and stages).")
    parser.add_argument("--backend", default="hf", choices=BACKENDS)
    parser.add_argument("--task", default="auto", choices=TASKS)
    parser.add_argument("--no-answer", default="cluster", choices=NO_ANSWER_POLICIES)
    parser.add_argument("--cache-dir", default=None, help="Score cache (default: $TRL_ENTROPY_CACHE or ~/.cache).")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--revision", default=None, help="Revision of a Hub model id.")
    parser.add_argument("--order", default="ascending", choices=("ascending", "stages"))
    parser.add_argument("--num-stages", type=int, default=2)
    parser.add_argument(
        "--dataset-name",
        default=None,
        help="Name of the dataset in score_summary.json (default: the --dataset argument's file stem or name).",
    )
    add_grading_arguments(parser)
    args = parser.parse_args(argv)

    import sys
    import warnings

    from ..eval.evaluator import NoAnswersWarning
    from ..import_path import ImportPathError
    from .curriculum import SemanticEntropyCurriculum

    def refuse(error: Exception) -> None:
        print(f"trl-entropy curriculum: error: {error}", file=sys.stderr)  # noqa: T201
        sys.exit(2)

    dataset = load_prompt_dataset(args.dataset, args.dataset_config, args.dataset_split, args.dataset_size, args.seed)
    try:
        if args.prompt_template is not None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(resolve_model_name(args.model), revision=args.revision)
            dataset = apply_prompt_template(
                dataset, args.prompt_template, conversational=bool(getattr(tokenizer, "chat_template", None))
            )
        extractor = args.answer_extractor
        if extractor is not None:
            from ..import_path import import_callable

            extractor = import_callable(extractor, "answer extractor")
    except (ValueError, ImportPathError) as error:
        refuse(error)
    dataset_name = args.dataset_name or os.path.splitext(os.path.basename(os.path.normpath(args.dataset)))[0]
    show_other = warnings.showwarning

    def show(message, category, *rest, **kwargs):
        if issubclass(category, NoAnswersWarning):
            print(f"trl-entropy curriculum: warning: {message}", file=sys.stderr)  # noqa: T201
        else:
            show_other(message, category, *rest, **kwargs)

    with warnings.catch_warnings():
        warnings.simplefilter("always", NoAnswersWarning)
        warnings.showwarning = show
        try:
            result = _score_for_cli(dataset, args, extractor)
        except NoAnswersError as error:
            refuse(error)
    summary = score_distribution(result.scores)
    rank, world_size = process_info()
    if rank == 0:
        curriculum = SemanticEntropyCurriculum(
            dataset, scores=result.scores, order=args.order, num_stages=args.num_stages, seed=args.seed
        )
        curriculum.save_to_disk(args.output_dir)
        answers = [answer for record in result.records for answer in record["answers"]]
        report = {
            **summary,
            "dataset": dataset_name,
            "no_answer_share": sum(answer is None for answer in answers) / max(1, len(answers)),
            **({"prompt_template": args.prompt_template} if args.prompt_template else {}),
            "cache_path": result.cache_path,
            "settings": result.settings,
        }
        write_atomic(os.path.join(args.output_dir, SUMMARY_FILENAME), json.dumps(report, indent=2) + "\n")
        print(format_score_distribution(summary))  # noqa: T201
        print(f"curriculum ({args.order}, {len(curriculum)} prompts) saved to {args.output_dir}")  # noqa: T201
        print(f"scores cached in {result.cache_path}")  # noqa: T201
    barrier(world_size)
    return summary


def _score_for_cli(dataset, args, extractor) -> SemanticEntropyScores:
    return score_semantic_entropy(
        dataset,
        args.model,
        task=args.task,
        no_answer=args.no_answer,
        num_samples=args.num_samples,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        seed=args.seed,
        backend=args.backend,
        cache_dir=args.cache_dir,
        dtype=args.dtype,
        revision=args.revision,
        grader=args.grader or "math",
        answer_extractor=extractor,
        allow_no_answers=args.allow_no_answers,
    )
