"""A real 2-process torchrun (gloo, CPU): the ranks stay in sync, only rank 0 writes
checkpoints and logs, and a DDP run resumes."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgemark.checkpoint import load_checkpoint

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]


def torchrun(*args, timeout=600):
    return subprocess.run([*TORCHRUN, "-m", "edgemark", "train", *map(str, args)], capture_output=True, text=True, timeout=timeout)


def test_two_process_training_stays_in_sync_and_resumes(small_lists, smoke_recipe, tmp_path):
    out, cache = tmp_path / "ddp", tmp_path / "cache"
    common = ["--recipe", smoke_recipe, "--list", small_lists / "trainImageList.txt", "--out", out, "--cache", cache]
    done = torchrun(*common, "--epochs", "1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = done.stdout.replace("\n", " ")
    assert "DistributedDataParallel: 2 processes (gloo)" in text and "effective batch 32 x 2 = 64" in text
    assert done.stdout.count("epoch 1/1 ") == 1  # one rank logs
    state = load_checkpoint(out / "last.pt")
    assert state["world_size"] == 2 and state["epoch"] == 1
    assert state["history"][0]["rank_weight_divergence"] == 0.0  # identical weights on both ranks after the steps
    assert state["optimizer"]["param_groups"][0]["initial_lr"] == pytest.approx(0.003 * 2)  # linear scaling rule
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "history.json", "last.pt", "metrics.csv"]  # one writer, no stray files
    done = torchrun(*common, "--epochs", "2", "--resume")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "resuming" in done.stdout
    state = load_checkpoint(out / "last.pt")
    assert state["epoch"] == 2 and [h["epoch"] for h in state["history"]] == [1, 2]
    assert state["history"][1]["rank_weight_divergence"] == 0.0
