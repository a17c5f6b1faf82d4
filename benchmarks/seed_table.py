# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Mean and standard deviation over seeds of the runs of a benchmark script, as a table (shared by the scripts)."""

import statistics
from collections.abc import Sequence
from typing import Any


def mean_std(rows: Sequence[dict[str, Any]], key: str) -> dict[str, float] | None:
    """Mean and sample standard deviation of `key` over the rows that have a number there (`None` if none has)."""
    values = [row[key] for row in rows if isinstance(row.get(key), int | float) and not isinstance(row[key], bool)]
    if not values:
        return None
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def summarize_variants(results: Sequence[dict[str, Any]], variants: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per variant, `mean_std` of every figure of its runs (all keys but `variant` and `seed`)."""
    table = {}
    for variant in variants:
        rows = [r for r in results if r["variant"] == variant]
        table[variant] = {key: mean_std(rows, key) for key in rows[0] if key not in ("variant", "seed")}
    return table


def cell(summary: dict[str, Any], key: str, digits: int = 3) -> str:
    """`mean ± std` of one figure of a variant, `-` when it has none."""
    value = summary[key]
    return "-" if value is None else f"{value['mean']:.{digits}f} ± {value['std']:.{digits}f}"
