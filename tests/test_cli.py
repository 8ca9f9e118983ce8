"""The CLI as a user runs it: a real subprocess, real files, exit codes and messages."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edgemark.data.lists import read_list
from edgemark.evaluate import evaluate
from edgemark.predictors.torch_predictor import TorchPredictor


def edgemark(*args, env=None, timeout=300):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "edgemark", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def test_eval_end_to_end(trained_checkpoint, small_lists, tmp_path):
    out = tmp_path / "eval"
    done = edgemark("eval", "--checkpoint", trained_checkpoint, "--list", small_lists / "testImageList.txt", "--out", out)
    assert done.returncode == 0, done.stderr
    assert "NME %" in done.stdout and "net_7876" in done.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["faces"] == 60 and 0 < metrics["nme"] < 1 and 0 <= metrics["auc"] <= 1
    assert len(metrics["nme_per_point"]) == 5
    # head-turn bins by the labels: every face in one bin, the faces' mean NME is the whole NME
    turns = metrics["per_head_turn"]
    assert sum(t["faces"] for t in turns) == 60 and "head turn 0-0.05" in done.stdout
    assert sum(t["faces"] * t["nme"] for t in turns) / 60 == pytest.approx(metrics["nme"], rel=1e-6)
    # the CLI's figures are those of the library call
    direct = evaluate(TorchPredictor(trained_checkpoint), read_list(small_lists / "testImageList.txt"))
    assert metrics["nme"] == pytest.approx(direct["nme"], rel=1e-5)
    for png in ("ced.png", "worst.png"):
        image = cv2.imread(str(out / png))
        assert image is not None and image.shape[0] > 100


def test_eval_mtfl_layout_with_whole_image_and_landmark_boxes(trained_checkpoint, small_lists, tmp_path):
    # rewrite the CUHK test subset in the MTFL layout: PATH x1..x5 y1..y5 and four attributes, no box
    lines = []
    for r in read_list(small_lists / "testImageList.txt").records:
        xs, ys = r.landmarks[:, 0], r.landmarks[:, 1]
        lines.append(" ".join([str(r.image_path)] + [f"{v:.2f}" for v in [*xs, *ys]] + ["1", "2", "2", "3"]))
    mtfl = tmp_path / "mtfl_test.txt"
    mtfl.write_text("\n".join(lines) + "\n")
    results = {}
    for box in ("given", "landmarks"):
        out = tmp_path / box
        done = edgemark("eval", "--checkpoint", trained_checkpoint, "--list", mtfl, "--format", "mtfl", "--box", box, "--out", out)
        assert done.returncode == 0, done.stderr
        results[box] = json.loads((out / "metrics.json").read_text())
        assert results[box]["faces"] == 60 and results[box]["box"] == box
    # with no box in the list, "given" means the whole image: a different crop, different figures
    assert results["landmarks"]["nme"] != results["given"]["nme"]


def test_box_from_landmarks_matches_the_real_boxes(trained_checkpoint, small_lists):
    from edgemark.checkpoint import load_checkpoint
    from edgemark.preprocess import box_from_landmarks

    rule = load_checkpoint(trained_checkpoint)["box_rule"]
    ious = []
    for r in read_list(small_lists / "testImageList.txt").records:
        a, b = np.array(r.box), np.array(box_from_landmarks(r.landmarks, rule))
        inter = np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None))
        union = np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter
        ious.append(inter / union)
    assert np.median(ious) > 0.75


def test_clear_errors_without_traceback(trained_checkpoint, tmp_path):
    done = edgemark("eval", "--checkpoint", trained_checkpoint, env={"EDGEMARK_DATA": ""})
    assert done.returncode == 2 and "pass --data DIR or set EDGEMARK_DATA" in done.stderr and "Traceback" not in done.stderr
    bad = tmp_path / "bad.txt"
    bad.write_text("net_7876/x.jpg 1 2 3\n")
    done = edgemark("eval", "--checkpoint", trained_checkpoint, "--list", bad)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "bad.txt:1: expected 15 fields" in done.stderr
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    done = edgemark("eval", "--checkpoint", junk, "--list", bad)
    assert done.returncode == 2 and "not a readable edgemark checkpoint" in done.stderr


def test_skip_bad_reports_a_count(trained_checkpoint, small_lists, tmp_path):
    lines = (small_lists / "testImageList.txt").read_text().splitlines()[:5]
    lines.insert(2, "net_7876/does_not_exist.jpg 1 50 1 50 10 10 20 10 15 15 10 20 20 20")
    lst = small_lists / "with_bad.txt"
    lst.write_text("\n".join(lines) + "\n")
    done = edgemark("eval", "--checkpoint", trained_checkpoint, "--list", lst, "--out", tmp_path / "e")
    assert done.returncode == 2 and "with_bad.txt:3: image not found" in done.stderr
    done = edgemark("eval", "--checkpoint", trained_checkpoint, "--list", lst, "--out", tmp_path / "e", "--skip-bad")
    assert done.returncode == 0 and "skipped 1 bad lines" in done.stdout
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["faces"] == 5


def test_data_stats_and_show(small_lists, tmp_path):
    done = edgemark("data", "stats", "--data", small_lists, "--json", tmp_path / "stats.json")
    assert done.returncode == 0, done.stderr
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["faces"] == 200 and stats["sources"] == {"lfw_5590": 100, "net_7876": 100}
    assert stats["image_sizes"]["250x250"] == 100
    assert 20 < stats["interocular_px"]["median"] < 120
    assert stats["landmarks_inside_box"] > 0.9
    grid = tmp_path / "grid.png"
    done = edgemark("data", "show", "--data", small_lists, "--n", "16", "--out", grid)
    assert done.returncode == 0, done.stderr
    image = cv2.imread(str(grid))
    assert image.shape == (400, 1600, 3) and image.std() > 10


def test_train_cli_needs_data(tmp_path):
    done = edgemark("train", "--out", tmp_path / "r", env={"EDGEMARK_DATA": ""})
    assert done.returncode == 2 and "EDGEMARK_DATA" in done.stderr
    done = edgemark("train", "--out", tmp_path / "r", "--data", tmp_path / "nowhere")
    assert done.returncode == 2 and "data folder not found" in done.stderr


def test_version():
    from edgemark import __version__

    done = edgemark("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"edgemark {__version__}"
