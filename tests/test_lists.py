import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgemark.data.images import read_image
from edgemark.data.lists import read_list
from edgemark.errors import DataError

GOOD = "lfw_5590\\a.jpg 10 50 12 52 20 25 40 25 30 35 22 45 38 45"


@pytest.fixture()
def images(tmp_path):
    (tmp_path / "lfw_5590").mkdir()
    (tmp_path / "net_7876").mkdir()
    image = np.full((64, 64, 3), 128, np.uint8)
    cv2.imwrite(str(tmp_path / "lfw_5590" / "a.jpg"), image)
    cv2.imwrite(str(tmp_path / "net_7876" / "b.jpg"), image)
    return tmp_path


def write(folder: Path, text: str, name="list.txt", newline="\r\n") -> Path:
    path = folder / name
    path.write_bytes(newline.join(text.splitlines()).encode() + newline.encode())
    return path


def test_cuhk_backslash_forward_slash_and_crlf(images):
    path = write(images, GOOD + "\nnet_7876/b.jpg 1 61 2 62 20 25 40 25 30 35 22 45 38 45")
    faces = read_list(path)
    assert len(faces) == 2
    first = faces.records[0]
    assert first.image_path == images / "lfw_5590" / "a.jpg"
    assert first.box == (10.0, 12.0, 50.0, 52.0)  # left right top bottom -> left top right bottom
    np.testing.assert_allclose(first.landmarks[1], [40, 25])
    assert faces.records[1].line == 2


@pytest.mark.parametrize("line, message", [
    ("lfw_5590\\a.jpg 10 50 12 52 20 25", "expected 15 fields"),
    ("lfw_5590\\a.jpg 10 50 12 52 20 25 40 x 30 35 22 45 38 45", "not a number: 'x'"),
    ("lfw_5590\\a.jpg 50 10 12 52 20 25 40 25 30 35 22 45 38 45", "empty box"),
    ("lfw_5590\\a.jpg 10 10 12 52 20 25 40 25 30 35 22 45 38 45", "empty box"),
    ("lfw_5590\\a.jpg 10 50 12 52 20 25 40 1e39 30 35 22 45 38 45", "non-finite coordinate"),
    ("lfw_5590\\missing.jpg 10 50 12 52 20 25 40 25 30 35 22 45 38 45", "image not found"),
])
def test_bad_line_names_file_and_line(images, line, message):
    path = write(images, GOOD + "\n" + line + "\n" + GOOD)
    with pytest.raises(DataError) as err:
        read_list(path)
    assert f"{path}:2:" in str(err.value)
    assert message in str(err.value)
    faces = read_list(path, skip_bad=True)
    assert len(faces) == 2 and len(faces.skipped) == 1 and f"{path}:2:" in faces.skipped[0]


def test_missing_list_and_empty_list(images):
    with pytest.raises(DataError, match="cannot read list file"):
        read_list(images / "nope.txt")
    with pytest.raises(DataError, match="no usable lines"):
        read_list(write(images, "\n# only a comment\n"))


def test_unreadable_image_names_the_list_line(images):
    (images / "lfw_5590" / "a.jpg").write_bytes(b"not a jpeg")
    faces = read_list(write(images, GOOD))
    with pytest.raises(DataError, match=r"list.txt:1: unreadable image"):
        read_image(faces.records[0])


def test_mtfl_layout_has_no_box(images):
    # PATH x1..x5 y1..y5 gender smile glasses pose
    path = write(images, "lfw_5590\\a.jpg 20 40 30 22 38 25 25 35 45 45 1 2 2 3", newline="\n")
    faces = read_list(path, fmt="mtfl")
    record = faces.records[0]
    assert record.box is None
    np.testing.assert_allclose(record.landmarks, [[20, 25], [40, 25], [30, 35], [22, 45], [38, 45]])


def test_wflw_fixture_98_points(tmp_path):
    fixture = Path(__file__).parent / "fixtures" / "wflw_sample.txt"
    lines = fixture.read_text().splitlines()
    for line in lines:
        rel = line.split()[-1]
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / rel), np.zeros((300, 300, 3), np.uint8))
    faces = read_list(fixture, fmt="wflw", num_points=98, image_root=tmp_path)
    assert len(faces) == len(lines) == 2
    record = faces.records[0]
    assert record.landmarks.shape == (98, 2)
    values = lines[0].split()
    np.testing.assert_allclose(record.landmarks[97], [float(values[194]), float(values[195])], rtol=1e-6)
    assert record.box == tuple(float(v) for v in values[196:200])
    assert record.image_path.name == Path(values[-1]).name
    with pytest.raises(DataError, match=r"wflw_sample.txt:1: expected 147 fields .* got 207"):
        read_list(fixture, fmt="wflw", num_points=68, image_root=tmp_path)


def test_real_cuhk_lists(data_dir):
    train = read_list(data_dir / "trainImageList.txt")
    test = read_list(data_dir / "testImageList.txt")
    assert len(train) == 10000 and len(test) == 2027
    assert all(r.box[2] > r.box[0] for r in train.records)


def test_box_outside_its_image_names_file_and_line(images):
    """A box that does not overlap its 64x64 photo is refused with file and line (or skipped
    and counted with skip_bad), whether found when the list is read or when the image is."""
    outside = "lfw_5590\\a.jpg 5000 6000 5000 6000 20 25 40 25 30 35 22 45 38 45"
    path = write(images, GOOD + "\n" + outside + "\n" + GOOD)
    with pytest.raises(DataError, match=rf"{path}:2: box .* lies outside its 64x64 image"):
        read_list(path)
    faces = read_list(path, skip_bad=True)
    assert len(faces) == 2 and len(faces.skipped) == 1 and f"{path}:2:" in faces.skipped[0]
    unchecked = read_list(path, check_images=False)  # not looked at yet: decoding says so
    read_image(unchecked.records[0])
    with pytest.raises(DataError, match=rf"{path}:2: box .* lies outside its 64x64 image"):
        read_image(unchecked.records[1])
    # partly outside still overlaps the photo: kept
    partly = write(images, "lfw_5590\\a.jpg -10 30 -10 30 20 25 40 25 30 35 22 45 38 45", name="partly.txt")
    assert len(read_list(partly)) == 1


def test_crop_cache_follows_the_images_not_only_the_list(images, tmp_path):
    """The same list file over another image folder (or a rewritten image) must not reuse
    the crops cached for the first one."""
    from edgemark.data.cache import load_or_build_cache

    other = tmp_path / "other"
    (other / "lfw_5590").mkdir(parents=True)
    cv2.imwrite(str(other / "lfw_5590" / "a.jpg"), np.full((64, 64, 3), 250, np.uint8))
    path = write(images, GOOD)
    cache_dir = tmp_path / "cache"
    first = load_or_build_cache(read_list(path), 16, 0.2, cache_dir)
    moved = load_or_build_cache(read_list(path, image_root=other), 16, 0.2, cache_dir)
    def centre(cache):  # the face, not the black border around the small photo
        return int(cache.images[0][12:20, 12:20].mean())

    assert abs(centre(first) - 128) < 5
    assert abs(centre(moved) - 250) < 5, "crops of the first image folder were reused"
    # the image rewritten in place (new size and time stamp): rebuilt
    image = images / "lfw_5590" / "a.jpg"
    cv2.imwrite(str(image), np.full((64, 64, 3), 10, np.uint8))
    os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 10**9))
    rewritten = load_or_build_cache(read_list(path), 16, 0.2, cache_dir)
    assert abs(centre(rewritten) - 10) < 5, "crops of the old image were reused"


def test_eval_of_a_list_without_boxes_uses_the_detector_by_default(trained_checkpoint, small_lists, tmp_path, detector_models):
    """MTFL has no boxes: the whole photo as the box gave figures for faces nobody meets
    (75.6 % NME), silently. The default is the face detector; the whole photo only when
    asked, with a warning when it comes from --box given."""
    import json
    import subprocess
    import sys

    lines = []
    for r in read_list(small_lists / "testImageList.txt").records[:8]:
        xs, ys = r.landmarks[:, 0], r.landmarks[:, 1]
        lines.append(" ".join([str(r.image_path)] + [f"{v:.2f}" for v in [*xs, *ys]] + ["1", "2", "2", "3"]))
    mtfl = tmp_path / "mtfl_test.txt"
    mtfl.write_text("\n".join(lines) + "\n")

    def run(*extra):
        return subprocess.run([sys.executable, "-m", "edgemark", "eval", "--checkpoint", str(trained_checkpoint), "--list", str(mtfl),
                               "--format", "mtfl", *map(str, extra)], capture_output=True, text=True, timeout=300)

    done = run("--out", tmp_path / "default")
    assert done.returncode == 0, done.stdout + done.stderr
    metrics = json.loads((tmp_path / "default" / "metrics.json").read_text())
    assert metrics["box"] == "detector" and metrics["faces"] == 8 and "found" in metrics
    assert "has no face boxes" in " ".join(done.stdout.split())
    done = run("--box", "given", "--out", tmp_path / "given")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "given" / "metrics.json").read_text())["box"] == "given"
    assert "warning:" in done.stdout and "crops by the whole photo" in " ".join(done.stdout.split())


def test_lists_read_without_pillow_as_on_a_device(images, monkeypatch):
    """The device bundle ships lists.py without Pillow: no header look, the box is checked
    once the image is decoded."""
    import sys

    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL raises ImportError
    outside = "lfw_5590\\a.jpg 5000 6000 5000 6000 20 25 40 25 30 35 22 45 38 45"
    faces = read_list(write(images, GOOD + "\n" + outside))
    assert len(faces) == 2
    with pytest.raises(DataError, match=r"list.txt:2: box .* lies outside its 64x64 image"):
        read_image(faces.records[1])
