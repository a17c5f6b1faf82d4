"""Embedded default tasks: the Countdown arithmetic task and its tiny shipped policy."""

import importlib
from typing import TYPE_CHECKING


# Names are resolved lazily (PEP 562) so that `python -m trl_entropy.tasks.countdown` does not find the module already
# imported by its package (runpy warns about that), and so importing the package stays cheap.
_EXPORTS = {
    "SPLITS": "countdown",
    "TINY_POLICY_PATH": "countdown",
    "build_dataset": "countdown",
    "countdown_reward": "countdown",
    "evaluate_pass_at_1": "countdown",
    "format_prompt": "countdown",
    "generate_problems": "countdown",
    "load_tiny_policy": "countdown",
    "num_problems": "countdown",
    "parse_expression": "countdown",
    "sample_problems": "countdown",
    "score_completion": "countdown",
    "solve": "countdown",
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


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # cache: later lookups skip __getattr__
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
