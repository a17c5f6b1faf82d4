# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Evaluation: benchmarks, graders and sample-based metrics (Pass@k, Acc@N, Maj@k).

Importing this package stays light: `math-verify` (and with it sympy) is imported when a [`MathGrader`] is created,
`datasets` when a benchmark is read from disk or the Hub.
"""

from .answers import (
    CountdownGrader,
    CountdownStepsGrader,
    GradedSample,
    MathGrader,
    cluster_answers,
    extract_last_boxed,
    math_verify_version,
)
from .metrics import acc_at_n, default_ks, maj_at_k, pass_at_k, summarize
from .plain_text import PlainTextGrader, extract_plain_answer, parse_number


# Generation and the training callback import torch and transformers: loaded on first use. The benchmarks too: they
# generate the offline math sets with `trl_entropy.tasks.offline_math`, which grades with this package's extraction.
_LAZY = {
    "evaluate": "evaluator",
    "summary_table": "evaluator",
    "EvaluationCallback": "callback",
    **dict.fromkeys(("BENCHMARKS", "MATH_INSTRUCTION", "Benchmark", "BenchmarkSpec", "load_benchmark"), "benchmarks"),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BENCHMARKS",
    "MATH_INSTRUCTION",
    "Benchmark",
    "BenchmarkSpec",
    "CountdownGrader",
    "CountdownStepsGrader",
    "EvaluationCallback",
    "GradedSample",
    "MathGrader",
    "PlainTextGrader",
    "acc_at_n",
    "cluster_answers",
    "default_ks",
    "evaluate",
    "extract_last_boxed",
    "extract_plain_answer",
    "load_benchmark",
    "maj_at_k",
    "math_verify_version",
    "parse_number",
    "pass_at_k",
    "summarize",
    "summary_table",
]
