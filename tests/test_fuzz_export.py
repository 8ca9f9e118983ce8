"""Property-based fuzzing of the artifact manifest (``edgemark.export.manifest.read_manifest``):
whatever manifest.json holds, reading it either works or raises the project's named
error, never another exception, and never touches a file outside the artifact folder."""

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgemark.errors import EdgemarkError
from edgemark.export.manifest import read_manifest

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT / "exported" / "mobilenetv2_96" / "onnx-fp32"

json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)
path_names = st.sampled_from(["model.onnx", "../outside.txt", "/etc/passwd", "a/../../b", "", ".", "sub/x.bin", "..\\x", "ok\x00"])


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz") / "onnx-fp32"
    shutil.copytree(VALID, folder)
    (folder.parent / "outside.txt").write_text("not part of the artifact")
    return folder


def _check(folder: Path, manifest) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest, allow_nan=True) if not isinstance(manifest, bytes) else "")
    try:
        got_folder, got = read_manifest(folder)
    except EdgemarkError:
        return
    assert got_folder == folder
    for name in got["files"]:
        assert (folder / name).resolve().is_relative_to(folder.resolve())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["format", "precision", "model_file", "files", "input", "output", "crop", "scheme", "box_rule",
                            "manifest_version"]),
       value=json_values)
def test_any_field_value_reads_or_is_a_named_error(artifact, key, value):
    manifest = json.loads((VALID / "manifest.json").read_text())
    manifest[key] = value
    _check(artifact, manifest)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=path_names, info=json_values | st.fixed_dictionaries({"sha256": st.text(max_size=70), "bytes": st.integers(-5, 10**9)}))
def test_listed_files_never_reach_outside_the_folder(artifact, name, info):
    manifest = json.loads((VALID / "manifest.json").read_text())
    manifest["files"] = {**manifest["files"], name: info}
    _check(artifact, manifest)
    manifest["model_file"] = name
    _check(artifact, manifest)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_arbitrary_text_is_a_named_error(artifact, text):
    (artifact / "manifest.json").write_text(text)
    with pytest.raises(EdgemarkError):
        read_manifest(artifact)
