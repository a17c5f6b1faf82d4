# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Moved to `trl_entropy.sent.semantic_entropy`, the method's own package; re-exported here."""

from ..sent.semantic_entropy import (  # noqa: F401
    NO_ANSWER_POLICIES,
    _math_grader,
    _sizes,
    answer_clusters,
    check_no_answer_policy,
    entropy_of_cluster_sizes,
    math_answer_equivalence,
    semantic_entropy,
)
