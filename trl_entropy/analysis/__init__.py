# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The papers' analysis instruments (METHODS.md section 7, arXiv 2508.02260 and 2506.14758): token-level quantities,
their aggregates, a training callback and the offline report of `trl-entropy analyze`. See `docs/analysis.md`."""

import importlib


# Names are imported on first use (PEP 562): `trl-entropy analyze --help` and `import trl_entropy.analysis.cli`
# do not pay for torch.
_EXPORTS = {
    "ANALYSIS_FILENAME": "callback",
    "EntropyAnalysisCallback": "callback",
    "ROLES": "text",
    "TokenRoleLexicon": "text",
    "TokenStatistics": "tokens",
    "analysis_metrics": "batch",
    "analysis_profiles": "batch",
    "batch_analysis_sums": "batch",
    "behaviour_sums": "text",
    "choose_impact_positions": "impact",
    "classify_token_roles": "text",
    "clipped_advantage_factor": "tokens",
    "gradient_norm_proxy": "tokens",
    "is_reflective": "text",
    "knn_distance": "text",
    "load_analysis_records": "callback",
    "load_sentence_embedder": "text",
    "performance_impact": "impact",
    "pivotal_token_mask": "text",
    "position_bins": "tokens",
    "positional_profile_sums": "tokens",
    "quality_flags": "text",
    "quality_rates": "text",
    "rare_behaviour_statistics": "text",
    "rare_mask": "text",
    "role_statistics": "text",
    "role_sums": "text",
    "split_sentences": "text",
    "token_statistics": "tokens",
    "u_shape_statistic": "tokens",
}

__all__ = [
    "ANALYSIS_FILENAME",
    "ROLES",
    "EntropyAnalysisCallback",
    "TokenRoleLexicon",
    "TokenStatistics",
    "analysis_metrics",
    "analysis_profiles",
    "batch_analysis_sums",
    "behaviour_sums",
    "choose_impact_positions",
    "classify_token_roles",
    "clipped_advantage_factor",
    "gradient_norm_proxy",
    "is_reflective",
    "knn_distance",
    "load_analysis_records",
    "load_sentence_embedder",
    "performance_impact",
    "pivotal_token_mask",
    "position_bins",
    "positional_profile_sums",
    "quality_flags",
    "quality_rates",
    "rare_behaviour_statistics",
    "rare_mask",
    "role_statistics",
    "role_sums",
    "split_sentences",
    "token_statistics",
    "u_shape_statistic",
]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
