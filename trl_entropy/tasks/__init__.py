"""Embedded default tasks: the Countdown arithmetic task and its tiny shipped policy, and Countdown in steps.

The step-by-step task's names that would clash with Countdown's (`build_dataset`, `score_completion`, `solve`, ...)
are only in its module, `trl_entropy.tasks.countdown_steps`; the others are exported here too.
"""

import importlib
from typing import TYPE_CHECKING


# Names are resolved lazily (PEP 562) so that `python -m trl_entropy.tasks.countdown` does not find the module already
# imported by its package (runpy warns about that), and so importing the package stays cheap.
_EXPORTS = {
    "SPLITS": "countdown",
    "TINY_POLICY_PATH": "countdown",
    "TINY_STEPS_POLICY_PATH": "countdown_steps",
    "build_dataset": "countdown",
    "count_solutions": "countdown_steps",
    "countdown_reward": "countdown",
    "countdown_steps_reward": "countdown_steps",
    "evaluate_pass_at_1": "countdown",
    "format_prompt": "countdown",
    "generate_problems": "countdown",
    "label_batch": "countdown_steps",
    "label_completion": "countdown_steps",
    "load_tiny_policy": "countdown",
    "num_problems": "countdown",
    "parse_expression": "countdown",
    "parse_steps": "countdown_steps",
    "position_classes": "countdown_steps",
    "random_solution": "countdown_steps",
    "sample_problems": "countdown",
    "score_completion": "countdown",
    "solve": "countdown",
    "viable_next": "countdown_steps",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .countdown import (
        SPLITS,
        TINY_POLICY_PATH,
        build_dataset,
        countdown_reward,
        evaluate_pass_at_1,
        format_prompt,
        generate_problems,
        load_tiny_policy,
        num_problems,
        parse_expression,
        sample_problems,
        score_completion,
        solve,
    )
    from .countdown_steps import (
        TINY_STEPS_POLICY_PATH,
        count_solutions,
        countdown_steps_reward,
        label_batch,
        label_completion,
        parse_steps,
        position_classes,
        random_solution,
        viable_next,
    )


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # cache: later lookups skip __getattr__
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
