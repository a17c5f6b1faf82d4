# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Model cards (being split into modules)."""

from . import inputs as _inputs


globals().update({name: value for name, value in vars(_inputs).items() if not name.startswith("__")})
__all__ = _inputs.__all__
