# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The `trl-entropy analyze` command line: the parser imports nothing heavy, so `--help` is instant; `main` runs
[`~trl_entropy.analysis.report.analyze`]."""

import os
import sys
from collections.abc import Sequence
from typing import Any


def build_parser():
    import argparse

    parser = argparse.ArgumentParser(
        prog="trl-entropy analyze",
        description=(
            "Token-level entropy analysis of one or more runs (arXiv 2508.02260, 2506.14758): positional profiles of "
            "entropy, the gradient-norm proxy G_t and the branching factor, token roles, quality issues, exploration "
            "behaviours, rare behaviours, stages, and optionally the performance impact I_t. Writes "
            "RUN_DIR/analysis/ (summary.json, figures/, report.html); with several runs also a side-by-side report."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="Run output directories or local checkpoints.")
    parser.add_argument("--benchmark", help="Task to sample on; inferred from the run's card for the embedded tasks.")
    parser.add_argument("--split", default="test", help="Split of the task's problems.")
    parser.add_argument("--num-prompts", type=int, default=64, help="Prompts analysed.")
    parser.add_argument("--num-samples", type=int, default=8, help="Completions per prompt (a GRPO group).")
    parser.add_argument("--temperature", type=float, help="Sampling temperature; default: the run's training one.")
    parser.add_argument("--top-p", type=float, help="Sampling top-p; default: the run's training one.")
    parser.add_argument("--max-new-tokens", type=int, help="Completion length cap; default: the run's training one.")
    parser.add_argument("--seed", type=int, default=0, help="Sampling seed.")
    parser.add_argument("--batch-size", type=int, default=64, help="Sequences per generation call and forward.")
    parser.add_argument("--impact-positions", type=int, default=0,
                        help="Positions whose performance impact I_t is measured (0: none).")  # fmt: skip
    parser.add_argument("--impact-k", type=int, default=32, help="Continuations per prefix for I_t (the paper's k).")
    parser.add_argument("--base", help="Base model of the rare-behaviour reference; default: the task's tiny policy.")
    parser.add_argument("--embedder", choices=("auto", "none"), default="auto",
                        help="Sentence embeddings for rare behaviours: all-MiniLM-L6-v2 (the `analysis` extra) or none.")  # fmt: skip
    parser.add_argument("--output", help="Side-by-side report directory with several runs (default entropy-analysis).")
    parser.add_argument("--overwrite", action="store_true", help="Discard cached samples and impacts.")
    return parser


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    args = build_parser().parse_args(argv)
    from ..eval.evaluator import EvaluationInputError, _process_info
    from .report import ANALYSIS_DIRNAME, REPORT_FILENAME, AnalysisInputError, _fmt, analyze

    try:
        summaries = analyze(
            args.run_dirs, args.output, benchmark=args.benchmark, split=args.split, num_prompts=args.num_prompts,
            num_samples=args.num_samples, temperature=args.temperature, top_p=args.top_p,
            max_new_tokens=args.max_new_tokens, seed=args.seed, batch_size=args.batch_size,
            impact_positions=args.impact_positions, impact_k=args.impact_k, base=args.base, embedder=args.embedder,
            overwrite=args.overwrite,
        )  # fmt: skip
    except (AnalysisInputError, EvaluationInputError, FileNotFoundError) as error:
        raise SystemExit(f"trl-entropy analyze: error: {error}") from None
    if _process_info()[0] != 0:
        return summaries
    lines = []
    for summary in summaries:
        lines.append(
            f"{summary['run']}: {summary['num_completions']} completions, accuracy {_fmt(summary['accuracy'])}, "
            f"entropy {_fmt(summary['metrics'].get('entropy'))}, {summary['wall_time_s']} s -> "
            f"{os.path.join(summary['model'], ANALYSIS_DIRNAME, REPORT_FILENAME)}"
        )
        for claim in summary["claims"]:
            verdict = {True: "holds", False: "does not hold", None: "not measurable"}[claim["holds"]]
            lines.append(f"  {verdict:>15}: {claim['claim']} ({claim['evidence']})")
    if len(summaries) > 1:
        lines.append(f"side by side: {os.path.join(args.output or 'entropy-analysis', REPORT_FILENAME)}")
    sys.stdout.write("\n".join(lines) + "\n")
    return summaries
