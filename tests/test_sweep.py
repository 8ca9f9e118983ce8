"""A real Ray Tune sweep: two tiny recipes in parallel on a local Ray, results appended
to a study table."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("ray", reason="needs the sweep extra: pip install 'edgemark[sweep]'")


def test_two_recipes_in_parallel(small_lists, smoke_recipe, tmp_path):
    narrow = tmp_path / "narrow.yaml"
    narrow.write_text(smoke_recipe.read_text().replace("width: 0.35", "width: 0.25"))
    table = tmp_path / "accuracy.md"
    table.write_text("# Accuracy study\n\nearlier notes stay.\n")
    done = subprocess.run([sys.executable, "-m", "edgemark", "sweep", str(smoke_recipe), str(narrow), "--data", str(small_lists),
                           "--out", str(tmp_path / "sweep"), "--epochs", "1", "--table", str(table), "--cache", str(tmp_path / "cache")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = table.read_text()
    assert "earlier notes stay." in text
    rows = [line for line in text.splitlines() if line.startswith("| 20")]
    assert len(rows) == 2 and any("| smoke.yaml | 0 | mobilenetv2 x0.35 |" in r for r in rows) and any("narrow.yaml" in r for r in rows)
    assert (tmp_path / "sweep" / "smoke-seed0" / "best.pt").exists() and (tmp_path / "sweep" / "narrow-seed0" / "best.pt").exists()
    assert "edgemark sweep" in text


def test_results_go_to_the_sweep_folder_unless_a_table_is_named(small_lists, smoke_recipe, tmp_path, monkeypatch):
    """A sweep (a 1-epoch smoke run too) must not append to the tracked benchmarks/accuracy.md
    unless asked with --table."""
    from typer.testing import CliRunner

    import edgemark.sweep
    from edgemark.cli import app

    tables = []
    monkeypatch.setattr(edgemark.sweep, "run_sweep", lambda recipes, seeds, train_list, out, table, *a: tables.append(table) or [])
    runner = CliRunner()
    done = runner.invoke(app, ["sweep", str(smoke_recipe), "--data", str(small_lists), "--out", str(tmp_path / "sweep")])
    assert done.exit_code == 0, done.output
    done = runner.invoke(app, ["sweep", str(smoke_recipe), "--data", str(small_lists), "--out", str(tmp_path / "sweep"),
                               "--table", str(tmp_path / "accuracy.md")])
    assert done.exit_code == 0, done.output
    assert tables == [tmp_path / "sweep" / "sweep.md", tmp_path / "accuracy.md"]


def test_address_without_a_cluster_is_a_clear_error(small_lists, smoke_recipe, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_TMPDIR"] = str(tmp_path)  # no cluster recorded there
    done = subprocess.run([sys.executable, "-m", "edgemark", "sweep", str(smoke_recipe), "--data", str(small_lists),
                           "--out", str(tmp_path / "sweep"), "--address", "auto"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    assert "--address auto: no Ray cluster at that address" in done.stderr.replace("\n", " ")
    assert "Traceback" not in done.stderr
