"""Refusing Intel AMX to a process (edgemark.x86_amx): the kernel really refuses the request
XNNPACK makes, the refusal reaches child processes, and an int8 TFLite model still runs there
with the same output."""

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgemark import x86_amx

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_INT8 = ROOT / "exported" / "mobilenetv2_96" / "tflite-int8"

pytestmark = pytest.mark.skipif(not x86_amx.is_supported(), reason="AMX and its refusal exist on x86_64 Linux only")


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_denied_request_fails_with_eperm_here_and_in_children():
    code = ("import subprocess, sys\n"
            "from edgemark import x86_amx\n"
            "before = x86_amx.request_amx()\n"
            "x86_amx.deny_amx()\n"
            "child = subprocess.run([sys.executable, '-c', 'from edgemark import x86_amx; print(x86_amx.request_amx())'],"
            " capture_output=True, text=True).stdout.strip()\n"
            "print(before, x86_amx.request_amx(), child)\n")
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    before, after, child = map(int, done.stdout.split())
    if x86_amx.cpu_has_amx():
        assert before == 0  # granted until refused
    else:
        assert before != 0
    assert after == errno.EPERM and child == errno.EPERM


def test_other_system_calls_still_work_after_the_refusal(tmp_path):
    code = ("import os, threading\n"
            "from edgemark import x86_amx\n"
            "x86_amx.deny_amx()\n"
            f"open({str(tmp_path / 'f')!r}, 'w').write('ok'); t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
            "print(os.getpid() > 0)\n")
    done = run_python(code)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr
    assert (tmp_path / "f").read_text() == "ok"


def test_int8_tflite_gives_the_same_landmarks_without_amx():
    """Integer kernels: AMX tiles and AVX-512 VNNI accumulate exactly, so the outputs agree
    to rounding of the float output scale."""
    pytest.importorskip("ai_edge_litert")
    code = ("import sys, numpy as np\n"
            "from edgemark import x86_amx\n"
            "if sys.argv[1] == 'off': x86_amx.deny_amx()\n"
            "from edgemark import load_predictor\n"
            f"p = load_predictor({str(SHIPPED_INT8)!r}, threads=1)\n"
            "crops = np.random.default_rng(0).integers(0, 256, size=(4, p.crop.size, p.crop.size, 3), dtype=np.uint8)\n"
            "np.save(sys.argv[2], p.predict_crops(crops))\n")
    outputs = []
    for mode in ("on", "off"):
        path = ROOT / f".amx-{mode}-test.npy"
        try:
            done = subprocess.run([sys.executable, "-c", code, mode, str(path)], capture_output=True, text=True, timeout=300, cwd=ROOT)
            assert done.returncode == 0, done.stderr
            outputs.append(np.load(path))
        finally:
            path.unlink(missing_ok=True)
    assert outputs[0].shape == (4, 5, 2)
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-6)


def test_predict_and_demo_refuse_amx_with_no_amx(data_dir):
    """`edgemark predict PHOTO --no-amx` (demo takes the same option): the process refuses
    itself AMX before the runtime loads, and the landmarks are those without the option."""
    pytest.importorskip("ai_edge_litert")
    code = ("from edgemark import x86_amx\n"
            "from edgemark.cli.common import refuse_amx\n"
            "refuse_amx(False); first = x86_amx.request_amx()\n"
            "refuse_amx(True); print(first, x86_amx.request_amx())\n")
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    first, after = map(int, done.stdout.split())
    if x86_amx.cpu_has_amx():
        assert first == 0 and after == errno.EPERM  # refused only when asked to
    photo = str(data_dir / "lfw_5590" / sorted(p.name for p in (data_dir / "lfw_5590").glob("*.jpg"))[0])
    results = []
    for extra in ([], ["--no-amx"]):
        done = subprocess.run([sys.executable, "-m", "edgemark", "predict", photo, *extra], capture_output=True, text=True,
                              timeout=300, cwd=ROOT)
        assert done.returncode in (0, 1), done.stderr
        results.append(done.stdout)
    assert results[0] == results[1] and '"landmarks"' in results[0]
    help_text = subprocess.run([sys.executable, "-m", "edgemark", "demo", "--help"], capture_output=True, text=True,
                               timeout=120, cwd=ROOT, env={**os.environ, "COLUMNS": "200"}).stdout
    assert "--no-amx" in help_text
