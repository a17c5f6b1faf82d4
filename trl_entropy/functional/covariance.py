# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Moved to `trl_entropy.covariance.functional`, the method's own package; re-exported here."""

from ..covariance.functional import (  # noqa: F401
    _check_coef,
    _check_same_shape,
    check_clip_cov_params,
    check_kl_cov_params,
    clip_cov_selection,
    covariance_summary,
    kl_cov_penalty,
    kl_cov_selection,
    ppo_clipped_tokens,
    selection_count,
    split_valid_token_vector,
    token_covariance,
    valid_token_vector,
)
