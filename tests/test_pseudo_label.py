"""The MediaPipe face mesh as a peer and a teacher, the drive23 scheme, and
``edgemark data pseudo-label``: the real teacher file on real CUHK faces."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from edgemark.data.lists import read_list
from edgemark.data.images import read_image
from edgemark.errors import DataError, EdgemarkError
from edgemark.face_measures import eye_aspect_ratio, mouth_aspect_ratio
from edgemark.metrics import point_errors
from edgemark.preprocess import roll_angle
from edgemark.scheme import LandmarkScheme, load_scheme

from conftest import write_sublist

FACES = 8  # the first test-list faces; line 1 has both eyes open (teacher EAR 0.38 / 0.32), line 2 a wide-open mouth


def _teacher(view):
    from edgemark.predictors.mediapipe_mesh import MediaPipeMesh

    try:
        return MediaPipeMesh(view, threads=1)
    except EdgemarkError as e:
        pytest.skip(f"MediaPipe face landmark model not installed: run edgemark models fetch ({e})")


@pytest.fixture(scope="module")
def mesh_teacher():
    return _teacher("mesh468")


@pytest.fixture(scope="module")
def faces_list(data_dir, tmp_path_factory):
    return write_sublist(data_dir, tmp_path_factory.mktemp("pseudo_faces"), "testImageList.txt", FACES)


@pytest.fixture(scope="module")
def labelled(faces_list, mesh_teacher, tmp_path_factory):
    """One pseudo-label run over the small list: (output folder, result)."""
    from edgemark.data.pseudo_label import pseudo_label

    out = tmp_path_factory.mktemp("pseudo_out")
    result = pseudo_label(read_list(faces_list), mesh_teacher, load_scheme("drive23"), out, chunk=3)
    return out, result


def _mirror(points, width, perm):
    flipped = np.asarray(points, np.float64).copy()
    flipped[..., 0] = width - 1 - flipped[..., 0]
    return flipped[..., perm, :]


# ---- the scheme ------------------------------------------------------------------------

def test_drive23_scheme_layout():
    drive, cuhk = load_scheme("drive23"), load_scheme("cuhk5")
    assert drive.num_points == 23
    assert drive.names[:5] == cuhk.names and drive.interocular == cuhk.interocular
    assert drive.label_points == (0, 1, 2, 3, 4) and drive.teacher_points == tuple(range(5, 23))
    assert drive.has_eyelids and drive.has_mouth and drive.mouth[0] == 3 and drive.mouth[4] == 4
    perm = drive.flip_permutation()
    np.testing.assert_array_equal(perm[perm], np.arange(23))  # a flip twice is the identity
    assert set(tuple(p) for p in drive.flip_pairs) >= {(0, 1), (3, 4)}  # the cuhk5 pairs, unchanged


def test_old_scheme_dicts_still_load_and_new_fields_round_trip():
    old = {"name": "cuhk5", "names": ["left_eye", "right_eye", "nose_tip", "mouth_left", "mouth_right"],
           "flip_pairs": [[0, 1], [3, 4]], "interocular": [0, 1], "eyes": []}  # a manifest from before mouth/labelled
    scheme = LandmarkScheme.from_dict(old)
    assert scheme.mouth == () and scheme.labelled == () and scheme.label_points == (0, 1, 2, 3, 4)
    assert scheme.teacher_points == () and not scheme.has_mouth
    assert scheme.to_dict() == old  # older schemes write what they always wrote
    drive = load_scheme("drive23")
    assert LandmarkScheme.from_dict(json.loads(json.dumps(drive.to_dict()))) == drive
    with pytest.raises(EdgemarkError, match="mouth needs eight points"):
        LandmarkScheme.from_dict({**drive.to_dict(), "mouth": [3, 17, 4]})
    with pytest.raises(EdgemarkError, match="out of range"):
        LandmarkScheme.from_dict({**drive.to_dict(), "labelled": [0, 23]})


def test_mirroring_swaps_the_eyes_and_keeps_the_ratios(labelled, faces_list):
    out, _ = labelled
    drive = load_scheme("drive23")
    faces = read_list(out / "testImageList.drive23.txt", num_points=23, image_root=faces_list.parent)
    perm = drive.flip_permutation()
    for record in faces.records:
        width = read_image(record).shape[1]
        points = record.landmarks
        flipped = _mirror(points, width, perm)
        np.testing.assert_allclose(_mirror(flipped, width, perm), points, atol=1e-4)
        # the mirrored face is still in scheme order: left = smaller x, p1 the left corner of each eye
        assert flipped[0, 0] < flipped[1, 0] and flipped[3, 0] < flipped[4, 0]
        for eye in drive.eyes:
            assert flipped[eye[0], 0] < flipped[eye[3], 0]
        ears = [eye_aspect_ratio(points, e) for e in drive.eyes]
        flipped_ears = [eye_aspect_ratio(flipped, e) for e in drive.eyes]
        assert flipped_ears == pytest.approx(ears[::-1], rel=1e-6)
        assert mouth_aspect_ratio(flipped, drive.mouth) == pytest.approx(mouth_aspect_ratio(points, drive.mouth), rel=1e-6)


# ---- the teacher -------------------------------------------------------------------------

def test_teacher_five_points_land_near_the_labels(faces_list):
    teacher = _teacher("cuhk5")
    assert teacher.crop.size == 192 and teacher.box_rule and teacher.scheme.name == "cuhk5"
    faces = read_list(faces_list)
    for upright in (False, True):
        for r in faces.records:
            angle = roll_angle(r.landmarks[0], r.landmarks[1]) if upright else 0.0
            pred = teacher.predict(read_image(r), r.box, angle)
            nme = point_errors(pred[None], r.landmarks[None], (0, 1)).mean()
            assert nme < 0.10, f"{r.where}: teacher NME {nme:.3f} (upright={upright})"


def test_teacher_sees_open_eyes_and_an_open_mouth(labelled):
    out, _ = labelled
    faces = json.loads((out / "testImageList.drive23.json").read_text())["faces"]
    first = faces["line"].index(1)
    assert faces["ear_image_left"][first] > 0.2 and faces["ear_image_right"][first] > 0.2
    yawn = faces["line"].index(2)
    assert faces["mar"][yawn] > 0.3 > faces["mar"][first]


# ---- edgemark data pseudo-label ---------------------------------------------------------------

def test_output_list_parses_with_the_drive_scheme_and_keeps_the_labels(labelled, faces_list):
    out, result = labelled
    source = read_list(faces_list)
    taught = read_list(out / "testImageList.drive23.txt", num_points=23, image_root=faces_list.parent)
    assert len(taught) == FACES
    for a, b in zip(source.records, taught.records):
        assert a.image_path == b.image_path and a.box == b.box
        np.testing.assert_array_equal(b.landmarks[:5], a.landmarks)  # copied verbatim
        assert np.all(np.isfinite(b.landmarks))
    sidecar = json.loads((out / "testImageList.drive23.json").read_text())
    assert sidecar["teacher"]["sha256"] == "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"
    assert sidecar["teacher"]["wheel"] == "mediapipe==0.10.21" and sidecar["crop"]["upright"] is True
    assert LandmarkScheme.from_dict(sidecar["scheme"]) == load_scheme("drive23")
    assert len(sidecar["faces"]["ear_image_left"]) == FACES and result["teacher_nme_on_labels"]["nme"] < 0.10
    assert (out / "testImageList.drive23.png").stat().st_size > 0
    assert np.load(out / "testImageList.mesh468.npy").shape == (FACES, 468, 3)


def test_resume_skips_finished_chunks(labelled, faces_list, mesh_teacher):
    from edgemark.data.pseudo_label import pseudo_label

    out, _ = labelled
    chunks = sorted(next(out.glob(".testImageList-teacher-*")).glob("chunk-*.npz"))
    assert len(chunks) == 3  # 8 faces, 3 a chunk
    before = (out / "testImageList.drive23.txt").read_text()
    chunks[-1].unlink()  # as if the run had been killed before its last chunk
    calls = []
    result = pseudo_label(read_list(faces_list), mesh_teacher, load_scheme("drive23"), out, chunk=3,
                          progress=lambda i, n: calls.append(i), grid=False)
    assert result["timing"]["faces_taught_now"] == 2 and result["timing"]["faces_from_cache"] == 6
    assert (out / "testImageList.drive23.txt").read_text() == before
    assert not list(out.rglob("*.tmp"))  # atomic writes leave nothing behind
    again = pseudo_label(read_list(faces_list), mesh_teacher, load_scheme("drive23"), out, chunk=3, grid=False)
    assert again["timing"]["faces_taught_now"] == 0


def test_bad_list_line_names_file_and_line(faces_list, tmp_path):
    lines = faces_list.read_text().splitlines()
    bad = faces_list.parent / "bad.txt"
    bad.write_text("\n".join(lines[:2] + [lines[2].rsplit(" ", 1)[0]] + lines[3:]) + "\n")  # line 3 lacks a field
    done = subprocess.run([sys.executable, "-m", "edgemark", "data", "pseudo-label", "--list", str(bad),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"{bad}:3:" in " ".join(done.stderr.split()) and "expected 15 fields" in done.stderr


def test_unreadable_image_names_file_and_line(faces_list, mesh_teacher, tmp_path):
    from edgemark.data.pseudo_label import pseudo_label

    folder = tmp_path / "broken"
    (folder / "net_7876").mkdir(parents=True)
    lines = faces_list.read_text().splitlines()[:2]
    for line in lines:
        name = line.split()[0]
        (folder / name).write_bytes((faces_list.parent / name).read_bytes())
    (folder / lines[1].split()[0]).write_bytes(b"not a jpeg")
    (folder / "list.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=re.escape(f"{folder / 'list.txt'}:2: unreadable image")):
        pseudo_label(read_list(folder / "list.txt"), mesh_teacher, load_scheme("drive23"), tmp_path / "out")


def test_mirror_averages_the_mirrored_pass_and_clean_list_keeps_agreeing_faces(faces_list, mesh_teacher, labelled, tmp_path):
    """``--mirror``: each teacher point is the mean of the plain pass and the mirrored crop's
    pass (mirrored back, re-paired); ``--max-teacher-nme`` writes the clean list of the faces
    whose teacher agrees with the labels, in the list's order."""
    from edgemark.predictors.mediapipe_mesh import mesh_to_scheme
    from edgemark.preprocess import crop_face, normalised_to_image

    out = tmp_path / "mirror"
    done = subprocess.run([sys.executable, "-m", "edgemark", "data", "pseudo-label", "--list", str(faces_list), "--out", str(out),
                           "--mirror", "--max-teacher-nme", "0.05"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    scheme = load_scheme("drive23")
    mirrored = read_list(out / "testImageList.drive23.txt", num_points=23, image_root=faces_list.parent)
    plain = read_list(labelled[0] / "testImageList.drive23.txt", num_points=23, image_root=faces_list.parent)
    r = mirrored.records[1]
    crop, m = crop_face(read_image(r), r.box, 192, mesh_teacher.crop.margin, roll_angle(r.landmarks[0], r.landmarks[1]))
    one = mesh_to_scheme(mesh_teacher.mesh_crops(crop)[0][0, :, :2], "drive23")
    other = mesh_to_scheme(mesh_teacher.mesh_crops(np.ascontiguousarray(crop[:, ::-1]))[0][0, :, :2], "drive23")
    other[:, 0] = 1.0 - other[:, 0]
    expected = normalised_to_image((one + other[scheme.flip_permutation()]) / 2, m, 192)
    np.testing.assert_allclose(r.landmarks[5:], expected[5:], atol=2e-3)  # the list keeps 3 decimals
    assert np.abs(r.landmarks[5:] - plain.records[1].landmarks[5:]).max() > 0.05  # not the plain pass
    np.testing.assert_array_equal(r.landmarks[:5], plain.records[1].landmarks[:5])  # labels untouched
    sidecar = json.loads((out / "testImageList.drive23.json").read_text())
    assert "mirror" in sidecar["crop"]
    nme = np.array(sidecar["faces"]["teacher_nme_on_labels"])
    clean = (out / "testImageList.drive23.clean.txt").read_text().splitlines()
    full = (out / "testImageList.drive23.txt").read_text().splitlines()
    assert 0 < len(clean) < FACES
    assert clean == [line for line, e in zip(full, nme) if e <= 0.05]
