# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The processes of a sampling run: which one this is, and the two collectives the sampling loops need."""

import os
import sys


def process_info() -> tuple[int, int]:
    """
    This process's rank and the number of processes, joining the process group under `accelerate launch` /
    `torchrun` when it is not initialised yet.

    Returns:
        `tuple[int, int]`: `(rank, world_size)`; `(0, 1)` for a single process, without importing torch when it is
        not imported yet.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 and "torch" not in sys.modules:
        return 0, 1  # one process, and torch not even imported: no process group
    import torch

    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return 0, 1
        # Launched by accelerate/torchrun: join the process group. The rank comes from the group, not from the
        # state: under a bare `torchrun` on the CPU, accelerate initialises the group but reports one process.
        from accelerate import PartialState

        state = PartialState()
        if not torch.distributed.is_initialized():
            return state.process_index, state.num_processes
    return torch.distributed.get_rank(), torch.distributed.get_world_size()


def gather_objects(objects: list, world_size: int) -> list:
    """
    The lists of every process concatenated in rank order, on every process.

    Args:
        objects (`list`):
            This process's items (picklable).
        world_size (`int`):
            The number of processes; with `1`, `objects` is returned as is.

    Returns:
        `list`: The items of all processes.
    """
    if world_size == 1:
        return objects
    import torch

    gathered = [None] * world_size
    torch.distributed.all_gather_object(gathered, objects)
    return [item for part in gathered for item in part]


def barrier(world_size: int) -> None:
    """Wait for every process (nothing to wait for with `world_size` 1)."""
    if world_size > 1:
        import torch

        torch.distributed.barrier()
