# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The `trl-entropy` command."""

import argparse
import sys
from collections.abc import Sequence


USAGE = """\
trl-entropy <command> [options]

commands:
  train         train a method from a YAML recipe (same flags as `recipes/train.py`):
                  trl-entropy train --config recipes/tiny/entropy_advantage.yaml [--max_steps 10 ...]
                for several processes use `accelerate launch recipes/train.py --config ...`
  plot          plot the curves of finished runs: trl-entropy plot RUN_DIR [--output curves.png] [--keys reward entropy]
  stages        find the rising/plateau boundary of a finished run: trl-entropy stages RUN_DIR [--plot out.png]
  build-policy  rebuild the embedded tiny countdown policy: trl-entropy build-policy --output-dir DIR
  methods       list the methods a recipe can name with `method:`
"""


def _plot(argv: Sequence[str]) -> None:
    from .plotting import load_log_history, plot_training_curves

    parser = argparse.ArgumentParser(prog="trl-entropy plot")
    parser.add_argument("run_dir", help="Output directory of a run, or its trainer_state.json.")
    parser.add_argument("--output", default=None, help="PNG to write (default: RUN_DIR/training_curves.png).")
    parser.add_argument("--keys", nargs="+", default=None, help="Logged keys to plot (default: reward, entropy, ...).")
    args = parser.parse_args(argv)
    import os

    output = args.output or os.path.join(
        args.run_dir if os.path.isdir(args.run_dir) else os.path.dirname(args.run_dir), "training_curves.png"
    )
    plotted = plot_training_curves(load_log_history(args.run_dir), output, keys=args.keys)
    print(f"plotted {', '.join(plotted)} to {output}")


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return
    command, rest = argv[0], argv[1:]
    if command == "train":
        from .scripts.train import main as train_main

        train_main(rest)
    elif command == "plot":
        _plot(rest)
    elif command == "stages":
        from .stage_detector import main as stages_main

        stages_main(rest)
    elif command == "build-policy":
        from .tasks.build_policy import main as build_main

        build_main(rest)
    elif command == "methods":
        from .methods import METHODS

        for name, method in METHODS.items():
            print(f"{name:20s} {method.trainer_class.__name__:32s} {method.description}")
    else:
        print(f"unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
