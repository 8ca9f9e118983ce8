"""Where a GPU training epoch's time goes: the loader alone (workers), the network's step
alone (fp32/bf16, cudnn.benchmark on/off), then 2-epoch runs."""
import os, subprocess, sys, time
from pathlib import Path

import torch
from rich.console import Console

from edgemark import distributed
from edgemark.data.lists import read_list
from edgemark.models import build_model
from edgemark.recipe import load_recipe
from edgemark.train import TrainOptions, _epoch_loader, _prepare_data

cuda = torch.cuda.is_available()
dev = torch.device("cuda" if cuda else "cpu")
rec = load_recipe("recipes/mobilenetv2_96.yaml")
faces = read_list("runs/gpu_check_data/trainImageList.txt")
world = distributed.World()
t = time.time()
data = _prepare_data(rec, faces, TrainOptions(cache_dir=Path("runs/gpu_exp_cache")), world, Console(quiet=True))
print(f"cache + data {time.time() - t:.1f}s, cores {os.cpu_count()}", flush=True)
for w in ((0, 1, 4, 8, 15) if cuda else (0, 1)):
    data.workers, data.pin_memory = w, cuda
    t = time.time()
    n = 0
    for b in _epoch_loader(rec, data, world, 0):
        b = [x.to(dev, non_blocking=True) for x in b]
        n += len(b[0])
    print(f"loader alone, {w} workers: {n} faces in {time.time() - t:.2f}s", flush=True)

m = rec.model
for bench in ((False, True) if cuda else (False,)):
    for amp in ((None, torch.bfloat16) if cuda else (None,)):
        torch.backends.cudnn.benchmark = bench
        net = build_model(m.name, 5, 96, m.width, m.head_channels, m.head_pooling, m.dropout).to(dev, memory_format=torch.channels_last)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
        x = torch.randn(64, 3, 96, 96, device=dev).contiguous(memory_format=torch.channels_last)
        y = torch.rand(64, 5, 2, device=dev)
        def step():
            with torch.autocast(dev.type, dtype=amp or torch.float32, enabled=amp is not None):
                out = net(x)
            loss = (out.float().reshape(64, 5, 2) - y).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        t = time.time()
        step()
        if cuda:
            torch.cuda.synchronize()
        first = time.time() - t
        t = time.time()
        for _ in range(30):
            step()
        if cuda:
            torch.cuda.synchronize()
        print(f"network step alone, batch 64, benchmark={bench}, amp={amp}: first {first:.2f}s, then {(time.time() - t) / 30 * 1000:.1f} ms/step",
              flush=True)

out = Path(os.environ.get("EXP_OUT", "runs/gpu_exp/runs"))
for name, extra in (("fp32", []), ("bf16", ["--amp", "bf16"])) if cuda else (("cpu", ["--device", "cpu", "--subset", "200"]),):
    t = time.time()
    done = subprocess.run([sys.executable, "-m", "edgemark", "train", "--recipe", "recipes/mobilenetv2_96.yaml", "--data", "runs/gpu_check_data",
                           "--epochs", "2", "--cache", "runs/gpu_exp_cache", "--out", str(out / name), *extra], capture_output=True, text=True)
    print(f"train {name}: exit {done.returncode}, {time.time() - t:.1f}s", flush=True)
    print((out / name / "metrics.csv").read_text() if (out / name / "metrics.csv").exists() else done.stderr[-2000:], flush=True)
