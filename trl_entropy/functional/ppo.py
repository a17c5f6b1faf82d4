# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Moved to `trl_entropy.ppo.functional`, the method's own package; re-exported here."""

from ..ppo.functional import (  # noqa: F401
    _check,
    _check_same_shape,
    _float_dtype,
    check_ppo_params,
    clipped_value_loss,
    explained_variance,
    gae,
    masked_mean_var,
    masked_sums,
    mean_var_from_sums,
    outcome_token_rewards,
    whiten,
)
