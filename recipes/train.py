# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Train a trl-entropy method from a YAML recipe.

    accelerate launch recipes/train.py --config recipes/tiny/entropy_advantage.yaml
    accelerate launch --config_file recipes/accelerate_configs/ddp.yaml recipes/train.py --config ...

See `trl_entropy/scripts/train.py` for the recipe keys.
"""

from trl_entropy.scripts.train import main


if __name__ == "__main__":
    main()
