# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Plain GRPO and every method on the step-by-step countdown task, where every position is labelled exactly.

    python benchmarks/countdown_steps_methods.py --seeds 42 43 44 --jobs 2 \
        --output benchmarks/results/countdown_steps_methods_cpu.json

Every variant is a recipe of `recipes/tiny_steps/` trained with `recipes/train.py` for each seed in its own process
(SENT: its two stages one after the other, each for half the steps, so that it trains as many steps as the others),
then evaluated with `trl-entropy eval --benchmark countdown-steps` at temperature 1.0, top-p 1.0 (pass@1, pass@16,
pass@64 from 64 samples per problem). The starting policy is evaluated the same way once. From the training log, the
position metrics (`task/`, `trl_entropy.position_metrics`) averaged over the last `--last-steps` logged steps:
entropy at decision and at forced positions, the decision share, PAEC's mask precision and recall, the entropy
advantage's bonus at decision and at forced positions, the share of SENT's constrained tokens that are forced.

Finished runs and evaluations are kept, so the script can be restarted; `--max-steps` and `--eval-problems` make a
short run for a test. The machinery is `method_runs.py`, shared with `compare_methods.py` (which adds the baselines).
"""

import argparse

from method_runs import SEED_METHODS, add_arguments, markdown_table, run_all, write_report


TABLE_COLUMNS = (
    ("pass@1", "pass_at_1"),
    ("pass@16", "pass_at_16"),
    ("pass@64", "pass_at_64"),
    ("H decision", "entropy_decision"),
    ("H forced", "entropy_forced"),
    ("PAEC precision", "paec_precision"),
    ("PAEC recall", "paec_recall"),
    ("minutes", "minutes"),
)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser, default_variants=SEED_METHODS, runs_dir="countdown_steps_methods")
    args = parser.parse_args(argv)
    report = run_all(args)
    text = markdown_table(report["table"], report["base"], TABLE_COLUMNS)
    print(text)
    write_report(report, text, args.output)
    return report


if __name__ == "__main__":
    main()
