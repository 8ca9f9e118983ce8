"""The WFLW path end to end, as a user with WFLW types it (issue 33, item 5): a list in WFLW's
own layout (98 x/y pairs, box xmin ymin xmax ymax, 6 attribute flags, image path relative to
the image folder), made here from the teacher's 98 points (MediaPipe's face mesh,
predictors/mediapipe_mesh.py: WFLW98, mirror-averaged) on 60 CUHK photos with their CUHK boxes,
then train -> export -> predict -> eval through the CLI. And the 300-W layout (.pts files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgemark.errors import DataError, EdgemarkError

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "mobilenetv2_96_wflw98.yaml"
FACES = 60


def _cli(*args, timeout=300):
    """A user with WFLW or 300-W and without the CUHK set: no EDGEMARK_DATA."""
    env = {k: v for k, v in os.environ.items() if k != "EDGEMARK_DATA"}
    return subprocess.run([sys.executable, "-m", "edgemark", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=timeout)


def _taught(data_dir: Path, work: Path, scheme_name: str):
    """60 CUHK training faces (30 of each source) and the teacher's points of ``scheme_name`` on them."""
    from edgemark.data.lists import read_list
    from edgemark.data.pseudo_label import teach, teacher_points
    from edgemark.predictors.mediapipe_mesh import MediaPipeMesh
    from edgemark.scheme import load_scheme

    try:
        teacher = MediaPipeMesh("mesh468", threads=1)
    except EdgemarkError as e:
        pytest.skip(f"MediaPipe face landmark model not installed: run edgemark models fetch ({e})")
    faces = read_list(data_dir / "trainImageList.txt")
    faces.records = faces.records[: FACES // 2] + faces.records[-FACES // 2 :]
    mesh, _, _, mirrored = teach(faces, teacher, work / "teacher", upright=True, mirror=True)
    return faces, teacher_points(mesh, mirrored, load_scheme(scheme_name))


def _wflw_line(points: np.ndarray, box, rel: str) -> str:
    left, top, right, bottom = box
    coords = " ".join(f"{v:.4f}" for v in points.reshape(-1))
    return f"{coords} {left:g} {top:g} {right:g} {bottom:g} 0 0 0 0 0 0 {rel}\n"


@pytest.fixture(scope="module")
def wflw_set(data_dir, tmp_path_factory):
    """(list, images folder, faces, points): a WFLW-format list of the teacher's 98 points;
    image paths relative to the data folder, as WFLW's are to WFLW_images."""
    work = tmp_path_factory.mktemp("wflw")
    faces, points = _taught(data_dir, work, "wflw98")
    lst = work / "list_98pt_rect_attr_train.txt"
    lst.write_text("".join(_wflw_line(p, r.box, r.image_path.relative_to(data_dir).as_posix())
                           for p, r in zip(points, faces.records)))
    return lst, data_dir, faces, points


def test_wflw_list_round_trip(wflw_set):
    """The list is WFLW's real layout (207 fields a line) and reads back as written."""
    from edgemark.data.lists import read_list

    lst, images, faces, points = wflw_set
    first = lst.read_text().splitlines()[0].split()
    assert len(first) == 98 * 2 + 4 + 6 + 1 and first[-1].endswith(".jpg")
    back = read_list(lst, "wflw", 98, image_root=images)
    assert len(back) == FACES
    assert np.abs(np.stack([r.landmarks for r in back.records]) - points).max() < 1e-3
    assert [r.image_path for r in back.records] == [r.image_path for r in faces.records]


def test_wflw98_teacher_points_are_mirror_consistent(wflw_set):
    """Every WFLW point's mesh vertices are the mirror of its flip partner's: the teacher's plain and
    mirrored passes agree on every point about as closely as on the iBUG 68 (whose mapping was checked)."""
    from edgemark.data.pseudo_label import teach
    from edgemark.predictors.mediapipe_mesh import MediaPipeMesh, mesh_to_scheme
    from edgemark.scheme import load_scheme

    lst, _, faces, _ = wflw_set
    mesh, _, _, mirrored = teach(faces, MediaPipeMesh("mesh468", threads=1), lst.parent / "teacher", upright=True, mirror=True)
    spread = {}
    for name in ("ibug68", "wflw98"):
        s = load_scheme(name)
        plain = mesh_to_scheme(mesh[..., :2].astype(np.float64), name)
        other = mesh_to_scheme(mirrored[..., :2].astype(np.float64), name)[:, s.flip_permutation()]
        io = np.linalg.norm(plain[:, s.interocular[0]] - plain[:, s.interocular[1]], axis=-1)
        spread[name] = np.median(np.linalg.norm(plain - other, axis=-1) / io[:, None], axis=0)
    assert spread["wflw98"].max() < 1.5 * spread["ibug68"].max(), spread["wflw98"].round(3)
    # the points WFLW shares with the 68 (the standard WFLW -> 68 conversion) are the 68's
    wflw_to_68 = [*range(0, 33, 2), 33, 34, 35, 36, 37, 42, 43, 44, 45, 46, *range(51, 60), 60, 61, 63, 64, 65, 67, 68, 69, 71, 72, 73,
                  75, *range(76, 96)]
    ibug = mesh_to_scheme(mesh[..., :2].astype(np.float64), "ibug68")
    wflw = mesh_to_scheme(mesh[..., :2].astype(np.float64), "wflw98")
    differs = np.abs(wflw[:, wflw_to_68] - ibug).max(axis=(0, 2))
    # only the brows' inner ends: the 68 takes the mean of the upper and lower corner, WFLW the upper one
    assert set(np.flatnonzero(differs > 1e-6)) == {21, 22}


def test_wflw_train_export_predict_eval(wflw_set, tmp_path):
    """The documented commands on the WFLW-format list, without the CUHK set: train (the wflw98
    recipe, one epoch on the 60 faces), export ONNX fp32 and int8 (int8 calibrated on the WFLW
    list's faces, the accuracy check on the same list), predict a photo (98 named points),
    eval --format wflw."""
    lst, images, faces, _ = wflw_set
    run, exported = tmp_path / "run", tmp_path / "exported"
    r = _cli("train", "--recipe", RECIPE, "--list", lst, "--images", images, "--format", "wflw", "--epochs", 1,
             "--subset", FACES, "--out", run, "--cache", tmp_path / "cache", "--workers", 0)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "best validation NME" in r.stdout and (run / "best.pt").is_file()
    r = _cli("export", "--checkpoint", run / "best.pt", "--target", "onnx", "--precision", "fp32,int8", "--out", exported,
             "--train-list", lst, "--test-list", lst, "--format", "wflw", "--images", images, "--calib-size", 50, "--jobs", 1)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no accuracy check" not in r.stdout and "no int8" not in r.stdout, r.stdout
    assert (exported / "onnx-int8" / "manifest.json").is_file()
    manifest = json.loads((exported / "onnx-fp32" / "manifest.json").read_text())
    assert manifest["scheme"]["name"] == "wflw98" and len(manifest["scheme"]["names"]) == 98

    photo, box = faces.records[0].image_path, ",".join(f"{v:g}" for v in faces.records[0].box)
    r = _cli("predict", photo, "--model", exported / "onnx-fp32", "--box", box)
    assert r.returncode == 0, r.stdout + r.stderr
    (face,) = json.loads(r.stdout)["faces"]
    assert list(face["landmarks"]) == manifest["scheme"]["names"]
    assert {"contour_0", "contour_32", "eye_0", "eye_8", "pupil_left", "pupil_right"} <= set(face["landmarks"])

    r = _cli("eval", "--model", exported / "onnx-fp32", "--list", lst, "--images", images, "--format", "wflw",
             "--out", tmp_path / "eval")
    assert r.returncode == 0, r.stdout + r.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["faces"] == FACES and metrics["box"] == "given" and np.isfinite(metrics["nme"])


def test_train_names_a_list_of_another_scheme(wflw_set, data_dir, tmp_path):
    """A list whose point count is not the recipe's scheme's: the file, the line, both counts, the recipe's scheme."""
    lst, images, faces, points = wflw_set
    lines = lst.read_text().splitlines(keepends=True)
    bad = tmp_path / "mixed.txt"
    sixty_eight = _wflw_line(points[1, :68], faces.records[1].box, faces.records[1].image_path.relative_to(data_dir).as_posix())
    bad.write_text(lines[0] + sixty_eight)
    r = _cli("train", "--recipe", RECIPE, "--list", bad, "--images", images, "--format", "wflw", "--out", tmp_path / "run")
    assert r.returncode != 0
    assert f"{bad}:2:" in r.stderr and "68 points" in r.stderr and "wflw98" in r.stderr and "98 points" in r.stderr, r.stderr
    # a CUHK list given as WFLW: said so, not a point count
    r = _cli("train", "--recipe", RECIPE, "--list", data_dir / "trainImageList.txt", "--format", "wflw", "--out", tmp_path / "run")
    assert r.returncode != 0 and ":1:" in r.stderr and "not a WFLW line" in r.stderr, r.stderr
    r = _cli("train", "--recipe", RECIPE, "--list", lst, "--format", "mtfl", "--out", tmp_path / "run")
    assert r.returncode != 0 and "no face boxes" in r.stderr, r.stderr


def _write_pts(path: Path, points: np.ndarray) -> None:
    body = "\n".join(f"{x + 1:.3f} {y + 1:.3f}" for x, y in points)  # 300-W counts pixels from 1
    path.write_text(f"version: 1\nn_points:  {len(points)}\n{{\n{body}\n}}\n")


def test_300w_folder_and_list(data_dir, tmp_path):
    """300-W's layout: images with a .pts file beside each (68 points, 1-based), read from the folder
    (recursively) or from a list of image paths; the box is the points' bounding box. The ibug68
    recipe trains on the folder as a 300-W user types it."""
    from edgemark.data.lists import read_list

    faces, points = _taught(data_dir, tmp_path, "ibug68")
    folder = tmp_path / "300W" / "01_Indoor"
    folder.mkdir(parents=True)
    for i, (r, p) in enumerate(zip(faces.records, points)):
        (folder / f"indoor_{i:03d}{r.image_path.suffix}").symlink_to(r.image_path)
        _write_pts(folder / f"indoor_{i:03d}.pts", p)
    got = read_list(tmp_path / "300W", "300w", 68)
    assert len(got) == FACES
    assert np.abs(np.stack([r.landmarks for r in got.records]) - points).max() < 1e-3
    r = _cli("train", "--recipe", ROOT / "recipes" / "mobilenetv2_96_ibug68.yaml", "--format", "300w", "--list", tmp_path / "300W",
             "--epochs", 1, "--out", tmp_path / "run", "--cache", tmp_path / "cache", "--workers", 0)
    assert r.returncode == 0 and (tmp_path / "run" / "best.pt").is_file(), r.stdout + r.stderr
    lo, hi = points[0].min(axis=0), points[0].max(axis=0)
    assert np.allclose(got.records[0].box, (lo[0], lo[1], hi[0], hi[1]), atol=1e-3)
    listed = tmp_path / "300w_images.txt"
    listed.write_text("01_Indoor/indoor_001.jpg\n01_Indoor/indoor_003.jpg\n")
    got = read_list(listed, "300w", 68, image_root=tmp_path / "300W")
    assert [r.image_path.name for r in got.records] == ["indoor_001.jpg", "indoor_003.jpg"]
    with pytest.raises(DataError, match="68 points, but the scheme has 98"):
        read_list(tmp_path / "300W", "300w", 98)
    # the crop cache is keyed by the .pts files' points (the list is a folder, or names images only)
    from edgemark.data.cache import cache_key

    before = cache_key(read_list(tmp_path / "300W", "300w", 68), 96, 0.2)
    _write_pts(folder / "indoor_000.pts", points[0] + 1.0)
    assert cache_key(read_list(tmp_path / "300W", "300w", 68), 96, 0.2) != before
    (folder / "indoor_000.pts").write_text("version: 1\nn_points: 68\n{\n1 2\n}\n")
    with pytest.raises(DataError, match="indoor_000.pts:3: n_points says 68 but 1 points follow"):
        read_list(tmp_path / "300W", "300w", 68)
