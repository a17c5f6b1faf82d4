# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Train a trl-entropy method from a YAML recipe.

    accelerate launch recipes/train.py --config recipes/tiny/entropy_advantage.yaml
    accelerate launch --config_file recipes/accelerate_configs/ddp.yaml recipes/train.py --config ...

See `trl_entropy/scripts/train.py` for the recipe keys. Run bare (`python recipes/train.py ...`), it picks the CPU
threads as `trl-entropy train` does (one per process unless `OMP_NUM_THREADS` is set; see docs/cli.md).
"""

import sys

from trl_entropy.cli import configure_threads


if __name__ == "__main__":
    if not any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        configure_threads()  # before torch is imported, which reads OMP_NUM_THREADS once
    from trl_entropy.scripts.train import main

    main()
