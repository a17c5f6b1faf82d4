# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""`AdvantageShaper`: a [`~trl_entropy.hook.Component`] that maps advantages to advantages in each loss pass.

Kept as the base of the advantage shapers (and for code written against it): a shaper is a component in the shaper
band of the order whose `shape` the trainer applies after the previous shaper's.
"""

from .hook.component import SHAPER_ORDER, Component, config_option


class AdvantageShaper(Component):
    """Base class of the advantage-shaping components. Subclasses set `name` and override `shape`."""

    order = SHAPER_ORDER


__all__ = ["AdvantageShaper", "config_option"]
