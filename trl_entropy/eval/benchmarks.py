# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Benchmark loaders: math reasoning test sets and the held-out split of the embedded Countdown task.

Math benchmarks are read from a local copy (`path`: a `.jsonl`/`.json`/`.parquet`/`.csv` file, a `save_to_disk`
directory or a local `datasets` directory) or, with network access, from their default Hugging Face Hub dataset.
Field names differ between copies of the same benchmark, so each benchmark lists candidate names for the problem,
the answer and the id, and the first one present is used. Countdown needs no data: it is the embedded task's
held-out `test` split.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from typing import Any

from .answers import CountdownGrader, GradedSample, MathGrader, extract_last_boxed


KINDS = ("math", "countdown")
MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."

# Candidate column names, most common first. `solution` columns are only used when no answer column exists: the
# answer is then the last `\boxed{}` of the worked solution (as in MATH-style and Minerva-style copies).
PROBLEM_FIELDS = ("problem", "question", "Problem", "Question", "prompt")
ANSWER_FIELDS = ("answer", "Answer", "final_answer", "ground_truth", "expected_answer")
SOLUTION_FIELDS = ("solution", "Solution")
ID_FIELDS = ("id", "unique_id", "problem_id", "ID", "Id", "idx", "problem_idx")


@dataclass(frozen=True)
class BenchmarkSpec:
    """Registry entry of a benchmark: where its default copy lives and how its columns may be named."""

    name: str
    """Registry name, e.g. `"math500"`."""
    kind: str
    """`"math"` or `"countdown"`."""
    hub_id: str | None
    """Default `datasets` Hub id (`None` for built-in data)."""
    split: str
    """Default split."""
    description: str
    """One line on what the benchmark is."""
    problem_fields: tuple[str, ...] = PROBLEM_FIELDS
    answer_fields: tuple[str, ...] = ANSWER_FIELDS
    solution_fields: tuple[str, ...] = SOLUTION_FIELDS
    id_fields: tuple[str, ...] = ID_FIELDS


BENCHMARKS: dict[str, BenchmarkSpec] = {
    spec.name: spec
    for spec in (
        # 30 problems of AIME 2024 I and II; columns id, problem, solution, answer, url, year (single "train" split).
        BenchmarkSpec("aime24", "math", "HuggingFaceH4/aime_2024", "train", "AIME 2024 (I and II), 30 problems"),
        # 30 problems of AIME 2025 I and II; columns problem, answer, id.
        BenchmarkSpec("aime25", "math", "math-ai/aime25", "test", "AIME 2025 (I and II), 30 problems"),
        # 40 problems of AMC 2023; columns id, question, answer (and url).
        BenchmarkSpec("amc23", "math", "math-ai/amc23", "test", "AMC 2023, 40 problems"),
        # The 500-problem MATH subset of Lightman et al. (2023); columns problem, solution, answer, subject, level,
        # unique_id.
        BenchmarkSpec("math500", "math", "HuggingFaceH4/MATH-500", "test", "MATH-500, 500 problems"),
        # Minerva's OCWCourses set (272 problems); columns question, answer. Copies with only a worked `solution`
        # are graded against its last boxed expression.
        BenchmarkSpec("minerva", "math", "math-ai/minervamath", "test", "Minerva Math (OCWCourses), 272 problems"),
        BenchmarkSpec("countdown", "countdown", None, "test", "Held-out split of the embedded Countdown task"),
        # Generated locally by reasoning-gym (the `smollm2` extra); held out from `trl-entropy/offline-math` training.
        BenchmarkSpec(
            "offline-math", "math", None, "test", "Held-out GSM8K-style problems generated offline (reasoning-gym)"
        ),
    )
}


@dataclass
class Benchmark:
    """
    A loaded benchmark.

    Args:
        name (`str`):
            Benchmark name, e.g. `"math500"`.
        problems (`list[dict]`):
            Problems. Math: keys `"id"` (`str`), `"problem"` (`str`) and `"answer"` (`str`, the reference answer).
            Countdown: keys `"id"` (`str`), `"numbers"` (`list[int]`), `"target"` (`int`) and `"prompt"` (`str`).
        kind (`str`):
            `"math"` or `"countdown"`; decides the prompt format and the grader.
        source (`str` or `None`, *optional*, defaults to `None`):
            Where the problems were loaded from (a path, a Hub id and split, or the embedded task), for records.
    """

    name: str
    problems: list[dict]
    kind: str
    source: str | None = None
    prompt_format: str = "{problem}\n\n" + MATH_INSTRUCTION
    """Math prompt (the user message); `{problem}` is replaced by the problem text."""
    _grader: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"`kind` must be one of {KINDS}, got {self.kind!r}")

    def __len__(self) -> int:
        return len(self.problems)

    def build_prompt(self, problem: dict, tokenizer=None) -> str:
        r"""
        Builds the generation prompt of a problem.

        Math: the problem text followed by the instruction `"Please reason step by step, and put your final answer
        within \boxed{}."`, as one user message through the tokenizer's chat template when it has one, else as plain
        text ending with a newline. Countdown: the task's own plain prompt (e.g. `"3 7 12=33:"`), never templated,
        since the tiny policy is trained on bare prompts.

        Args:
            problem (`dict`):
                One of `self.problems`.
            tokenizer (`transformers.PreTrainedTokenizerBase` or `None`, *optional*, defaults to `None`):
                Tokenizer whose chat template (if any) formats math prompts.

        Returns:
            `str`: The prompt text (with the generation prompt of the chat template when one is applied).
        """
        if self.kind == "countdown":
            from ..tasks.countdown import format_prompt

            return format_prompt(problem["numbers"], problem["target"])
        content = self.prompt_format.replace("{problem}", problem["problem"])
        if tokenizer is not None and getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(
                [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
            )
        return content + "\n"

    def grader(self) -> MathGrader | CountdownGrader:
        """
        The grader of this benchmark's kind (created once, then reused so that its caches are shared).

        Returns:
            [`MathGrader`] or [`CountdownGrader`]: The grader.
        """
        if self._grader is None:
            self._grader = MathGrader() if self.kind == "math" else CountdownGrader()
        return self._grader

    def grade(self, problem: dict, completion: str) -> GradedSample:
        """
        Grades a completion of one problem with the benchmark's grader.

        Args:
            problem (`dict`):
                One of `self.problems`.
            completion (`str`):
                Model output for the problem's prompt.

        Returns:
            [`GradedSample`]: Extracted answer, its key and its correctness.
        """
        grader = self.grader()
        if self.kind == "countdown":
            return grader.grade(completion, problem["numbers"], problem["target"])
        return grader.grade(completion, problem["answer"])


# ---------------------------------------------------------------------------------------------------------------------
# Reading rows
# ---------------------------------------------------------------------------------------------------------------------

_FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


def _read_json(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as file:
        data = json.load(file)
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        return data
    # Column-oriented: {"problem": [...], "answer": [...]}, as pandas and some exporters write it.
    if isinstance(data, dict) and data and all(isinstance(column, list) for column in data.values()):
        lengths = {len(column) for column in data.values()}
        if len(lengths) == 1:
            columns = list(data)
            return [dict(zip(columns, values, strict=True)) for values in zip(*data.values(), strict=True)]
    raise ValueError(
        f"{path}: expected a JSON list of objects (one per problem) or an object of equally long columns."
    )


def _read_file(path: str) -> list[dict]:
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".jsonl":
        with open(path, encoding="utf-8") as file:
            rows = [json.loads(line) for line in file if line.strip()]
        if not all(isinstance(row, dict) for row in rows):
            raise ValueError(f"{path}: expected one JSON object (one problem) per line.")
        return rows
    if suffix == ".json":
        return _read_json(path)
    if suffix == ".parquet":
        import pyarrow.parquet

        return pyarrow.parquet.read_table(path).to_pylist()
    # CSV cells are strings; that is what answers are compared as anyway.
    with open(path, encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def _pick_split(dataset_dict, split: str | None, default_split: str, source: str) -> str:
    # A `DatasetDict` from disk or a local directory: the requested split, else the registry's default split, else
    # the only split there is.
    splits = list(dataset_dict.keys())
    if split is not None:
        if split not in splits:
            raise ValueError(f"{source} has no split {split!r}; available splits: {splits}.")
        return split
    if default_split in splits:
        return default_split
    if len(splits) == 1:
        return splits[0]
    raise ValueError(f"{source} has several splits {splits} and none is {default_split!r}; pass `split`.")


def _is_saved_dataset(path: str) -> bool:
    # `Dataset.save_to_disk` writes `state.json`, `DatasetDict.save_to_disk` writes `dataset_dict.json`.
    return os.path.isfile(os.path.join(path, "state.json")) or os.path.isfile(os.path.join(path, "dataset_dict.json"))


def _offline_hint(name: str) -> str:
    return (
        f"Without network access, pass a local copy of {name!r} as `path`: a .jsonl, .json, .parquet or .csv file, "
        "a directory written by `datasets.Dataset.save_to_disk`, or a local dataset directory."
    )


def _load_rows(spec: BenchmarkSpec, path: str | None, split: str | None) -> tuple[list[dict], str]:
    if path is None:
        import datasets

        split = split or spec.split
        try:
            dataset = datasets.load_dataset(spec.hub_id, split=split)
        except Exception as error:
            raise RuntimeError(
                f"Could not load benchmark {spec.name!r} from the Hugging Face Hub dataset {spec.hub_id!r} (split "
                f"{split!r}): {type(error).__name__}: {error}. {_offline_hint(spec.name)}"
            ) from error
        return dataset.to_list(), f"{spec.hub_id}[{split}]"

    path = os.fspath(path)
    if os.path.isfile(path):
        if not path.lower().endswith(_FILE_SUFFIXES):
            raise ValueError(f"Unsupported benchmark file {path!r}; expected one of {', '.join(_FILE_SUFFIXES)}.")
        # A file holds a single split; `split` does not apply.
        return _read_file(path), path

    import datasets

    if os.path.isdir(path) and _is_saved_dataset(path):
        loaded = datasets.load_from_disk(path)
        if isinstance(loaded, datasets.DatasetDict):
            chosen = _pick_split(loaded, split, spec.split, path)
            return loaded[chosen].to_list(), f"{path}[{chosen}]"
        return loaded.to_list(), path

    if path.lower().endswith(_FILE_SUFFIXES) and not os.path.exists(path):
        raise FileNotFoundError(f"Benchmark file {path!r} does not exist.")
    try:
        loaded = datasets.load_dataset(path)
    except Exception as error:
        raise RuntimeError(
            f"Could not load benchmark {spec.name!r} from {path!r} with `datasets.load_dataset`: "
            f"{type(error).__name__}: {error}. {_offline_hint(spec.name)}"
        ) from error
    chosen = _pick_split(loaded, split, spec.split, path)
    return loaded[chosen].to_list(), f"{path}[{chosen}]"


def _first_field(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    return next((name for name in candidates if name in columns), None)


def _answer_text(value: Any) -> str:
    # Hub copies store answers as strings, ints (AIME) or floats (27.0); lists hold several acceptable forms.
    if isinstance(value, (list, tuple)):
        return ", ".join(_answer_text(item) for item in value) if len(value) != 1 else _answer_text(value[0])
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _math_problems(spec: BenchmarkSpec, rows: list[dict], source: str) -> list[dict]:
    columns: list[str] = []
    for row in rows:
        columns.extend(name for name in row if name not in columns)
    problem_field = _first_field(columns, spec.problem_fields)
    answer_field = _first_field(columns, spec.answer_fields)
    solution_field = None if answer_field is not None else _first_field(columns, spec.solution_fields)
    id_field = _first_field(columns, spec.id_fields)
    if problem_field is None:
        raise ValueError(
            f"{source}: no problem column for benchmark {spec.name!r}; tried {list(spec.problem_fields)}, "
            f"available columns: {columns}."
        )
    if answer_field is None and solution_field is None:
        raise ValueError(
            f"{source}: no answer column for benchmark {spec.name!r}; tried {list(spec.answer_fields)} and, for the "
            f"last \\boxed{{}} of a solution, {list(spec.solution_fields)}; available columns: {columns}."
        )

    problems = []
    for index, row in enumerate(rows):
        if answer_field is not None:
            answer = _answer_text(row.get(answer_field))
        else:
            answer = extract_last_boxed(str(row.get(solution_field) or ""))
            if answer is None:
                raise ValueError(
                    f"{source}: row {index} has no answer column and its {solution_field!r} has no \\boxed{{}} answer."
                )
            answer = answer.strip()
        row_id = row.get(id_field) if id_field is not None else None
        problems.append(
            {
                "id": str(index) if row_id is None else str(row_id),
                "problem": str(row[problem_field]),
                "answer": answer,
            }
        )
    # Ids key the per-problem results (and resuming), so they must be unique; a copy whose id column repeats values
    # falls back to row indices rather than silently merging problems.
    if len({problem["id"] for problem in problems}) != len(problems):
        for index, problem in enumerate(problems):
            problem["id"] = str(index)
    return problems


def _countdown_problems(split: str) -> list[dict]:
    from ..tasks.countdown import SPLITS, generate_problems, num_problems

    if split not in SPLITS:
        raise ValueError(f"Countdown has splits {list(SPLITS)}, got {split!r}.")
    # The whole split with the default seed 0: the same problems, in the same order, as `build_dataset(split)`.
    problems = generate_problems(num_problems(split), seed=0, split=split)
    return [
        {
            # The canonical key (sorted numbers, target) identifies a problem whatever its display order.
            "id": f"{','.join(map(str, sorted(p['numbers'])))}={p['target']}",
            "numbers": p["numbers"],
            "target": p["target"],
            "prompt": p["prompt"],
        }
        for p in problems
    ]


def load_benchmark(
    name: str, path: str | None = None, split: str | None = None, limit: int | None = None
) -> Benchmark:
    """
    Loads a registered benchmark.

    Args:
        name (`str`):
            Registry name, one of `BENCHMARKS` (`"aime24"`, `"aime25"`, `"amc23"`, `"math500"`, `"minerva"`,
            `"countdown"`).
        path (`str` or `None`, *optional*, defaults to `None`):
            Local copy of a math benchmark: a `.jsonl`, `.json` (list of objects, or object of columns), `.parquet`
            or `.csv` file, a directory written by `datasets` `save_to_disk`, or a name or local directory loadable
            with `datasets.load_dataset`. `None` downloads the registry's Hub dataset (needs network access).
            Countdown takes no path.
        split (`str` or `None`, *optional*, defaults to `None`):
            Split to read; `None` uses the registry's split (for a multi-split local copy without it, the only split).
            Ignored for single files. For Countdown, `"test"` (held out from training, the default) or `"train"`.
        limit (`int` or `None`, *optional*, defaults to `None`):
            Keep only the first `limit` problems.

    Returns:
        [`Benchmark`]: The benchmark, its problems in dataset order. A math problem's id is the value of the first id
        column found (see `ID_FIELDS`), or its row index when there is none or its values are not unique.
    """
    if name not in BENCHMARKS:
        raise ValueError(f"Unknown benchmark {name!r}; known benchmarks: {', '.join(BENCHMARKS)}.")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"`limit` must be a positive integer or None, got {limit!r}")
    spec = BENCHMARKS[name]
    if name == "offline-math":
        return _offline_math_benchmark(spec, path, split, limit)
    if spec.kind == "countdown":
        if path is not None:
            raise ValueError("The countdown benchmark is generated by the embedded task; it takes no `path`.")
        split = split or spec.split
        problems = _countdown_problems(split)
        source = f"trl_entropy.tasks.countdown[{split}]"
    else:
        rows, source = _load_rows(spec, path, split)
        if limit is not None:
            rows = rows[:limit]
        problems = _math_problems(spec, rows, source)
    if limit is not None:
        problems = problems[:limit]
    return Benchmark(name=name, problems=problems, kind=spec.kind, source=source)


# Problems of the held-out split evaluated when no `limit` is given.
OFFLINE_MATH_DEFAULT_PROBLEMS = 200


def _offline_math_benchmark(spec: BenchmarkSpec, path: str | None, split: str | None, limit: int | None) -> Benchmark:
    from ..tasks.offline_math import DEFAULT_SOURCE, INSTRUCTION, generate_offline_math_problems

    if path is not None:
        raise ValueError("The offline-math benchmark is generated by reasoning-gym; it takes no `path`.")
    split = split or spec.split
    problems = generate_offline_math_problems(limit or OFFLINE_MATH_DEFAULT_PROBLEMS, seed=0, split=split)
    return Benchmark(
        name=spec.name,
        problems=[{"id": str(p["source_index"]), "problem": p["question"], "answer": p["answer"]} for p in problems],
        kind="math",
        source=f"reasoning-gym {DEFAULT_SOURCE}[{split}], seed 0",
        # The prompt of the training data (`trl_entropy.tasks.offline_math.format_messages`).
        prompt_format="{problem}\n" + INSTRUCTION,
    )
