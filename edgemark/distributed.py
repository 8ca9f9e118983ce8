"""Multi-process training with torchrun: DistributedDataParallel, nccl on GPUs (one
process per GPU, each on cuda:LOCAL_RANK), gloo on CPU. Started by torchrun (it sets RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT); without those, training runs in one process as
usual. On a machine with 4 GPUs:

    torchrun --standalone --nproc_per_node 4 -m edgemark train --out runs/ddp   # --device gpu is the default there
"""

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


def setup(use_cuda: bool | None = None) -> World:
    """``use_cuda``: train on CUDA (nccl, each rank on cuda:LOCAL_RANK) or not (gloo); None:
    CUDA when torch sees a device."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    use_cuda = torch.cuda.is_available() if use_cuda is None else use_cuda
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        if local >= torch.cuda.device_count():
            from .errors import EdgemarkError

            raise EdgemarkError(f"torchrun rank with LOCAL_RANK {local}, but torch sees {torch.cuda.device_count()} CUDA device(s): "
                                "--nproc_per_node must not exceed the GPUs (one process per GPU)")
        torch.cuda.set_device(local)  # before the process group: nccl binds each rank to its GPU
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), local, dist.get_backend())


def collective_device(world: World) -> torch.device:
    """Where this rank's collective tensors must live: its GPU under nccl, else the CPU."""
    return torch.device("cuda", world.local_rank) if world.backend == "nccl" else torch.device("cpu")


def barrier(world: World) -> None:
    if world.enabled:
        dist.barrier()


def mean_across(world: World, value: float) -> float:
    if not world.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=collective_device(world))
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
