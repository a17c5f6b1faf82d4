# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The papers' analysis instruments (METHODS.md section 7, arXiv 2508.02260 and 2506.14758): token-level quantities,
their aggregates, a training callback and the offline report of `trl-entropy analyze`. See `docs/analysis.md`."""

from .batch import analysis_metrics, analysis_profiles, batch_analysis_sums
from .callback import ANALYSIS_FILENAME, EntropyAnalysisCallback, load_analysis_records
from .impact import choose_impact_positions, performance_impact
from .text import (
    ROLES,
    TokenRoleLexicon,
    behaviour_sums,
    classify_token_roles,
    is_reflective,
    knn_distance,
    load_sentence_embedder,
    pivotal_token_mask,
    quality_flags,
    quality_rates,
    rare_behaviour_statistics,
    rare_mask,
    role_statistics,
    role_sums,
    split_sentences,
)
from .tokens import (
    TokenStatistics,
    clipped_advantage_factor,
    gradient_norm_proxy,
    position_bins,
    positional_profile_sums,
    token_statistics,
    u_shape_statistic,
)


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
