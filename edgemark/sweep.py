"""A grid of training recipes run in parallel with Ray Tune (the optional ``sweep`` extra):
one trial per (recipe, seed), on this machine or a Ray cluster (``--address``). Each
trial is an ordinary ``train`` run in its own folder; the results are appended, with the
command that made them, to ``sweep.md`` in the sweep's folder, or to the table named with
``--table`` (the study's ``benchmarks/accuracy.md`` only when asked: a smoke run is no result)."""

from __future__ import annotations

import dataclasses
import platform
import time
from datetime import date
from pathlib import Path

from .errors import EdgemarkError
from .io import write_text_atomic
from .optional import require

TABLE_HEADER = ("| date | recipe | seed | model | input | epochs | loss | best val NME % | train time | machine | run |\n"
                "|---|---|---:|---|---:|---:|---|---:|---:|---|---|\n")


def _trial(config: dict) -> None:
    """One Ray Tune trial: train one recipe with one seed and report its best val NME."""
    import torch
    from ray import tune

    from .data.lists import read_list
    from .recipe import load_recipe
    from .scheme import load_scheme
    from .train import train

    torch.set_num_threads(config["threads"])
    recipe = dataclasses.replace(load_recipe(config["recipe"]), seed=config["seed"])
    faces = read_list(config["list"], "cuhk", load_scheme(recipe.scheme).num_points)
    out = Path(config["out"]) / f"{Path(config['recipe']).stem}-seed{config['seed']}"
    started = time.time()
    result = train(recipe, faces, out, resume=(out / "last.pt").exists(), subset=config["subset"], epochs=config["epochs"],
                   cache_dir=config["cache"])
    tune.report({"best_val_nme": result["best_val_nme"], "seconds": time.time() - started, "run": str(out),
                 "epochs": len(result["history"])})


def run_sweep(recipes: list[Path], seeds: list[int], train_list: Path, out: Path, table: Path, command: str,
              epochs: int | None = None, subset: int | None = None, cpus_per_trial: int = 1, address: str | None = None,
              cache: Path | None = None) -> list[dict]:
    ray = require("ray", "edgemark sweep")
    tune = require("ray.tune", "edgemark sweep")
    from .recipe import load_recipe

    loaded = {str(Path(r).resolve()): load_recipe(r) for r in recipes}  # a bad recipe fails here, not in a trial
    if not ray.is_initialized():
        _start_ray(ray, address)
    space = {"recipe": tune.grid_search(list(loaded)), "seed": tune.grid_search(seeds), "list": str(Path(train_list).resolve()),
             "out": str(Path(out).resolve()), "epochs": epochs, "subset": subset, "threads": cpus_per_trial,
             "cache": str(Path(cache).resolve()) if cache else None}
    tuner = tune.Tuner(tune.with_resources(_trial, {"cpu": cpus_per_trial}), param_space=space,
                       tune_config=tune.TuneConfig(metric="best_val_nme", mode="min"),
                       run_config=tune.RunConfig(name="sweep", storage_path=str((Path(out) / "ray").resolve()), verbose=0))
    grid = tuner.fit()
    rows = []
    for result in grid:
        if result.error:
            rows.append({"recipe": Path(result.config["recipe"]).name, "seed": result.config["seed"], "error": str(result.error)[:300]})
            continue
        recipe = loaded[result.config["recipe"]]
        m = result.metrics
        rows.append({"recipe": Path(result.config["recipe"]).name, "seed": result.config["seed"], "model": f"{recipe.model.name} x{recipe.model.width}",
                     "input": recipe.input_size, "epochs": m["epochs"], "loss": recipe.loss, "best_val_nme": m["best_val_nme"],
                     "seconds": m["seconds"], "run": m["run"]})
    append_to_table(table, rows, command)
    return rows


def _start_ray(ray, address: str | None) -> None:
    """A local Ray (no address), or the running cluster at ``address``; a clear error without one."""
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except (ConnectionError, SystemExit) as e:  # auto: ConnectionError; HOST:PORT: SystemExit once its GCS wait times out
        if address is None:
            raise EdgemarkError(f"could not start a local Ray on this machine: {e}") from None
        why = str(e).splitlines()[0] if isinstance(e, ConnectionError) and str(e) else "nothing answered"
        raise EdgemarkError(f"--address {address}: no Ray cluster at that address ({why}); start one with 'ray start --head' "
                            "(and 'ray start --address HEAD:6379' on the other nodes), or leave out --address to run "
                            "on a local Ray on this machine") from None


def append_to_table(table: Path, rows: list[dict], command: str) -> None:
    table = Path(table)
    text = table.read_text() if table.exists() else "# Sweep results\n\n"
    text = text.rstrip("\n") + "\n\n" + TABLE_HEADER  # a table of its own, whatever the file ends with
    machine = f"{platform.machine()} {platform.node()[:12]}"
    for r in rows:
        if "error" in r:
            text += f"| {date.today()} | {r['recipe']} | {r['seed']} | failed: {r['error']} | | | | | | | |\n"
        else:
            text += (f"| {date.today()} | {r['recipe']} | {r['seed']} | {r['model']} | {r['input']} | {r['epochs']} | {r['loss']} | "
                     f"{r['best_val_nme'] * 100:.2f} | {r['seconds'] / 60:.1f} min | {machine} | `{r['run']}` |\n")
    text += f"\n(rows above from: `{command}`)\n"
    write_text_atomic(table, text)


def check_recipes(recipes: list[Path]) -> None:
    missing = [str(r) for r in recipes if not Path(r).is_file()]
    if missing:
        raise EdgemarkError(f"recipe not found: {', '.join(missing)}")
