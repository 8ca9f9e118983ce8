"""A real 2-process torchrun (gloo, CPU): the ranks stay in sync, only rank 0 writes
checkpoints and logs, and a DDP run resumes."""

import subprocess
import sys

import pytest

from edgemark.checkpoint import load_checkpoint

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]

# the first epoch of two, then stop as if killed (the command line has no such option)
ONE_EPOCH_OF_TWO = """\
import sys
from edgemark.data.lists import read_list
from edgemark.recipe import load_recipe
from edgemark.train import train

recipe, train_list, out, cache = sys.argv[1:]
train(load_recipe(recipe), read_list(train_list), out, epochs=2, stop_after_epochs=1, cache_dir=cache)
"""


def torchrun(*args, timeout=600):
    return subprocess.run([*TORCHRUN, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def test_two_process_training_stays_in_sync_and_resumes(small_lists, smoke_recipe, tmp_path):
    out, cache = tmp_path / "ddp", tmp_path / "cache"
    script = tmp_path / "one_epoch_of_two.py"
    script.write_text(ONE_EPOCH_OF_TWO)
    done = torchrun(script, smoke_recipe, small_lists / "trainImageList.txt", out, cache)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = done.stdout.replace("\n", " ")
    assert "DistributedDataParallel: 2 processes (gloo)" in text and "effective batch 32 x 2 = 64" in text
    assert done.stdout.count("epoch 1/2 ") == 1  # one rank logs
    state = load_checkpoint(out / "last.pt")
    assert state["world_size"] == 2 and state["epoch"] == 1
    assert state["history"][0]["rank_weight_divergence"] == 0.0  # identical weights on both ranks after the steps
    assert state["optimizer"]["param_groups"][0]["initial_lr"] == pytest.approx(0.003 * 2)  # linear scaling rule
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "history.json", "last.pt", "metrics.csv"]  # one writer, no stray files
    # the command line, as a user resumes it
    done = torchrun("-m", "edgemark", "train", "--recipe", smoke_recipe, "--list", small_lists / "trainImageList.txt", "--out", out,
                    "--cache", cache, "--resume")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "resuming" in done.stdout
    # only rank 0 validated: only rank 0 reports (rank 1 used to print "best validation NME inf%")
    assert done.stdout.count("best validation NME") == 1 and "inf%" not in done.stdout
    state = load_checkpoint(out / "last.pt")
    assert state["epoch"] == 2 and [h["epoch"] for h in state["history"]] == [1, 2]
    assert state["history"][1]["rank_weight_divergence"] == 0.0
