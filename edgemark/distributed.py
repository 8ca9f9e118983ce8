"""Multi-process training with torchrun: DistributedDataParallel, nccl on GPUs, gloo on
CPU. Started by torchrun (it sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT);
without those, training runs in one process as usual."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def enabled(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup() -> World:
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
    return World(dist.get_rank(), dist.get_world_size(), local, dist.get_backend())


def barrier(world: World) -> None:
    if world.enabled:
        dist.barrier()


def mean_across(world: World, value: float) -> float:
    if not world.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item() / world.size)


def weight_divergence(world: World, model: torch.nn.Module) -> float:
    """Largest difference between any rank's weights and rank 0's (0.0 when in sync)."""
    if not world.enabled:
        return 0.0
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double()
    reference = flat.clone()
    dist.broadcast(reference, 0)
    diff = (flat - reference).abs().max()
    dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    return float(diff.item())


def cleanup(world: World) -> None:
    if world.enabled and dist.is_initialized():
        dist.destroy_process_group()
