# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The hook: how trl-entropy intercepts TRL's loss pass. Knows no method."""
