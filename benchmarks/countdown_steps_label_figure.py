# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The figure of `docs/countdown_steps.md`: completions of one problem, each character coloured by its exact label.

    python benchmarks/countdown_steps_label_figure.py --output docs/images/countdown_steps_labels.png

A character is a decision (several next characters still lead to a correct completion), forced (exactly one does)
or dead (none does: the trace can no longer succeed); the small number under each is its `viable_next` count.
"""

import argparse

from trl_entropy.tasks.countdown_steps import EOS_TEXT, count_solutions, label_completion


COLOURS = {"decision": "#f4a261", "forced": "#a8dadc", "dead": "#bbbbbb"}
EXAMPLE = ([3, 5, 7, 2], 30, ["7*5=35,35-3=32,32-2=30", "2+3=5,5*7=35,35-5=30", "7*5=35,35+3=38,38-2=36"])


def label_class(count: int) -> str:
    return "decision" if count >= 2 else "forced" if count == 1 else "dead"


def plot(numbers: list[int], target: int, completions: list[str], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    rows = [(list(c) + [EOS_TEXT], label_completion(numbers, target, c + EOS_TEXT)) for c in completions]
    width = max(len(tokens) for tokens, _ in rows)
    fig, ax = plt.subplots(figsize=(0.36 * width + 1.5, 0.75 * len(rows) + 1.2))
    for row, (tokens, counts) in enumerate(rows):
        y = len(rows) - 1 - row
        for x, (token, count) in enumerate(zip(tokens, counts, strict=True)):
            ax.add_patch(Rectangle((x, y), 0.94, 0.7, color=COLOURS[label_class(count)]))
            text = "EOS" if token == EOS_TEXT else token
            ax.text(x + 0.47, y + 0.4, text, ha="center", va="center", family="monospace",
                    fontsize=7 if token == EOS_TEXT else 11)  # fmt: skip
            ax.text(x + 0.47, y + 0.08, str(count), ha="center", va="center", fontsize=6, color="#444444")
    ax.set_xlim(-0.1, width + 0.1)
    ax.set_ylim(-0.2, len(rows))
    ax.axis("off")
    prompt = " ".join(map(str, numbers)) + f"={target}:"
    ax.set_title(f"prompt {prompt!r} ({count_solutions(numbers, target)} correct traces); number = viable next characters",
                 fontsize=9)  # fmt: skip
    handles = [Patch(color=colour, label=name) for name, colour in COLOURS.items()]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="docs/images/countdown_steps_labels.png")
    args = parser.parse_args()
    plot(*EXAMPLE, args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
