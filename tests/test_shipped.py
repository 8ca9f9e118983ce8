"""Shipped models by name (edgemark/shipped.py), from a folder that is not the repository:
the names every command and the Python API take, what wins over a name, and the errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write_sublist
from edgemark import load_pipeline, load_predictor
from edgemark.errors import EdgemarkError
from edgemark.shipped import (DEFAULT_ARTIFACT, PACKAGED_ARTIFACTS, SHIPPED_MODELS, resolve_artifact, resolve_checkpoint,
                              resolve_export_folder, shipped_root)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """An empty working folder outside the repository."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_names_resolve_from_any_folder(elsewhere):
    assert shipped_root() == ROOT / "exported"  # in a clone; an installed wheel: edgemark/exported (tests/test_wheel.py)
    assert resolve_artifact("mobilenetv2_96") == ROOT / "exported" / "mobilenetv2_96" / DEFAULT_ARTIFACT
    assert resolve_artifact("drive23/onnx-int8") == ROOT / "exported" / "mobilenetv2_96_drive23" / "onnx-int8"
    assert resolve_artifact("mobilenetv2_96_drive23") == resolve_artifact("drive23")
    assert resolve_export_folder("drive23") == ROOT / "exported" / "mobilenetv2_96_drive23"
    assert resolve_checkpoint("drive23") == ROOT / "exported" / "mobilenetv2_96_drive23" / "torch-fp32" / "model.pt"
    assert load_predictor("drive23").scheme.num_points == 23
    assert load_pipeline("mobilenetv2_96", detector=None).scheme.num_points == 5


def test_every_model_ships_what_the_wheel_carries():
    for model in SHIPPED_MODELS:
        for artifact in PACKAGED_ARTIFACTS:
            assert (ROOT / "exported" / model.folder / artifact / "manifest.json").is_file(), (model.name, artifact)
    text = (ROOT / "pyproject.toml").read_text()
    for artifact in PACKAGED_ARTIFACTS:  # pyproject's package-data names the same artifacts
        assert f'"*/{artifact}/*"' in text, artifact


def test_a_path_that_exists_wins_over_a_name(elsewhere):
    shutil.copytree(ROOT / "exported" / "mobilenetv2_96" / "onnx-int8", elsewhere / "drive23")
    assert resolve_artifact("drive23") == Path("drive23")
    assert load_predictor("drive23").scheme.num_points == 5  # the folder here, not the shipped 23-point model


def test_unknown_names_and_artifacts_are_named_errors(elsewhere):
    with pytest.raises(EdgemarkError, match="no such artifact folder"):
        load_predictor("mobilenetv3_96")  # not a shipped name: a path, which is not there
    with pytest.raises(EdgemarkError, match=r"drive23/ncnn-fp99: not among the artifacts of drive23 here \(executorch-fp16") as e:
        resolve_artifact("drive23/ncnn-fp99")
    assert "edgemark export" not in str(e.value)  # fp99 is no precision: no export command to offer
    with pytest.raises(EdgemarkError, match="a checkpoint is wanted here"):
        resolve_checkpoint("drive23/tflite-int8")


def test_an_artifact_that_is_not_here_names_the_export_command(tmp_path, monkeypatch):
    # an installation with only what the wheel carries: the shipped folder of a wheel, laid out by hand
    root = tmp_path / "shipped"
    for artifact in PACKAGED_ARTIFACTS:
        shutil.copytree(ROOT / "exported" / "mobilenetv2_96" / artifact, root / "mobilenetv2_96" / artifact)
    monkeypatch.setattr("edgemark.shipped.shipped_root", lambda: root)
    with pytest.raises(EdgemarkError, match=r"edgemark export --checkpoint mobilenetv2_96 --target ncnn --precision fp16, "
                                            r"then pass --model runs/export/mobilenetv2_96/ncnn-fp16"):
        resolve_artifact("mobilenetv2_96/ncnn-fp16")
    with pytest.raises(EdgemarkError, match="installed with this edgemark"):
        resolve_artifact("drive23")


def run(cwd: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgemark", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.usefixtures("detector_models")
def test_eval_defaults_to_the_shipped_model_and_writes_in_the_working_folder(tmp_path, data_dir):
    few = write_sublist(data_dir, tmp_path / "few", "testImageList.txt", 30)
    done = run(tmp_path, "eval", "--list", few)
    assert done.returncode == 0, done.stderr
    metrics = tmp_path / "runs" / "eval" / "mobilenetv2_96-tflite-int8" / "eval-testImageList" / "metrics.json"
    assert json.loads(metrics.read_text())["nme"] < 0.06
    assert not list((ROOT / "exported").rglob("eval-*")), "nothing is written into the shipped models"


def test_bench_refuses_a_target_that_the_folder_lacks(tmp_path):
    shutil.copytree(ROOT / "exported" / "mobilenetv2_96" / "torch-fp32", tmp_path / "model" / "torch-fp32")
    shutil.copytree(ROOT / "exported" / "mobilenetv2_96" / "onnx-int8", tmp_path / "model" / "onnx-int8")
    done = run(tmp_path, "bench", "--model", "model", "--target", "tflite", "--precision", "int8", "--detector", "none")
    assert done.returncode == 2 and "no artifact matches --target tflite --precision int8 (here: onnx-int8, torch-fp32)" in done.stderr
    assert "edgemark export --checkpoint" in done.stderr and "Traceback" not in done.stderr
