"""Shared fixtures. The CUHK data set is read from $EDGEMARK_DATA or ../shared/datasets/cuhk_facepoint
beside the project (as in CI); it is never copied into the repository."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def find_data() -> Path | None:
    for candidate in (os.environ.get("EDGEMARK_DATA"), ROOT.parent / "shared" / "datasets" / "cuhk_facepoint"):
        if candidate and (Path(candidate) / "trainImageList.txt").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    found = find_data()
    if found is None:
        pytest.skip("CUHK data set not found: set EDGEMARK_DATA or place it at ../shared/datasets/cuhk_facepoint")
    return found


def write_sublist(data_dir: Path, folder: Path, source: str, n: int, start: int = 0) -> Path:
    """First ``n`` lines of a CUHK list in ``folder``, with the image folders linked beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("lfw_5590", "net_7876"):
        link = folder / sub
        if not link.exists():
            link.symlink_to(data_dir / sub)
    lines = (data_dir / source).read_bytes().splitlines(keepends=True)[start : start + n]
    path = folder / source
    path.write_bytes(b"".join(lines))
    return path


@pytest.fixture(scope="session")
def small_lists(data_dir, tmp_path_factory):
    """A 200-face training list (both sources) and a 60-face test list."""
    folder = tmp_path_factory.mktemp("cuhk_small")
    train_lines = (data_dir / "trainImageList.txt").read_bytes().splitlines(keepends=True)
    for sub in ("lfw_5590", "net_7876"):
        (folder / sub).symlink_to(data_dir / sub)
    (folder / "trainImageList.txt").write_bytes(b"".join(train_lines[:100] + train_lines[-100:]))
    write_sublist(data_dir, folder, "testImageList.txt", 60)
    return folder


SMOKE_RECIPE = """\
scheme: cuhk5
input_size: 64
margin: 0.2
model: {name: mobilenetv2, width: 0.35, head_channels: 32}
loss: wing
epochs: 2
batch_size: 32
lr: 0.003
warmup_epochs: 0
val_fraction: 0.2
seed: 0
workers: 0
augment: {rotation: 10, scale: 0.05, shift: 0.03, color: 0.1, blur: 0.1, jpeg: 0.1}
"""


@pytest.fixture(scope="session")
def smoke_recipe(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("recipes") / "smoke.yaml"
    path.write_text(SMOKE_RECIPE)
    return path


@contextlib.contextmanager
def torch_threads_kept():
    """torch's global thread count as it was, whatever the body sets (train's --threads, a predictor's threads)."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    try:
        yield
    finally:
        if before is not None:
            torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """Every test leaves torch's global thread count as it found it."""
    with torch_threads_kept():
        yield


# torch's CPU kernels sum in another order with another thread count (13.7577 against 13.7622 for the
# smoke recipe's first epoch with 2 and 1 threads), and a test that runs torch in this process may
# leave the global count changed: the runs compared with the shared checkpoint name their threads.
TRAIN_THREADS = 1


@pytest.fixture(scope="session")
def trained_checkpoint(small_lists, smoke_recipe, tmp_path_factory) -> Path:
    """A tiny model trained for 2 epochs (TRAIN_THREADS), shared by the eval tests."""
    from edgemark.data.lists import read_list
    from edgemark.recipe import load_recipe
    from edgemark.train import train

    out = tmp_path_factory.mktemp("run")
    faces = read_list(small_lists / "trainImageList.txt")
    with torch_threads_kept():
        train(load_recipe(smoke_recipe), faces, out, cache_dir=tmp_path_factory.mktemp("cache"), threads=TRAIN_THREADS)
    return out / "best.pt"


def available_targets():
    targets = ["onnx", "openvino"]
    try:
        import litert_torch  # noqa: F401

        targets.append("tflite")
    except ImportError:
        pass
    try:
        import ncnn  # noqa: F401
        import pnnx  # noqa: F401

        targets.append("ncnn")
    except ImportError:
        pass
    try:
        import executorch  # noqa: F401

        targets.append("executorch")
    except ImportError:
        pass
    return targets


@pytest.fixture(scope="session")
def exported(trained_checkpoint, small_lists, tmp_path_factory):
    from edgemark.data.lists import read_list
    from edgemark.export.pipeline import PRECISIONS, default_jobs, export_all

    out = tmp_path_factory.mktemp("exported") / "tiny"
    targets = available_targets()
    # as the CLI does by default: the conversions in worker processes, one per core
    reference, results = export_all(trained_checkpoint, out, targets, list(PRECISIONS),
                                    read_list(small_lists / "testImageList.txt"), read_list(small_lists / "trainImageList.txt"),
                                    calib_size=32, jobs=default_jobs(len(targets) * len(PRECISIONS)))
    return out, reference, {r.name: r for r in results}


@pytest.fixture(scope="session")
def detector_models():
    """The pinned face-detector files (edgemark models fetch; .ci/run and the README's install do it)."""
    from edgemark.detect.model_files import model_path
    from edgemark.errors import EdgemarkError

    try:
        return [model_path(name) for name in ("face_detection_short_range.tflite", "face_detection_full_range_sparse.tflite")]
    except EdgemarkError as e:
        pytest.skip(f"face detector files not installed: run edgemark models fetch ({e})")
