# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Moved to `trl_entropy.sent.functional`, the method's own package; re-exported here."""

from ..sent.functional import (  # noqa: F401
    KL_ESTIMATORS,
    CovSelection,
    _check,
    _token_advantages,
    check_sent_kl_params,
    kl_estimate,
    low_entropy_cov_coefficients,
    low_entropy_cov_kl,
    low_entropy_cov_selection,
    selection_coefficients,
)
