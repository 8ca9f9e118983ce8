"""The commands of the README and of the documentation site, typed as written, so that
neither can drift from the code.

Every command line of the bash blocks of README.md and of every page of docs/ (in the
order of mkdocs.yml's nav) must appear in RUNS (how it runs here) or NOT_HERE (why it
cannot, with where it is covered instead); a command that appears on several pages runs
once, where it first appears. RUNS may only fill in what a
user fills in (their data folder, photo, device) and add options that shorten a run
(fewer epochs, faces, timed calls) or stand in for the user's machine (their
~/.ssh/config, the device's Python); the command itself stays as written. They run in
that order (the README, then the pages) in one workspace, so that later commands use what earlier ones made
(runs/mnv2/best.pt, exported/mnv2), with the shipped model and recipes linked in.
The device commands run against a real OpenSSH server on loopback, reached through an
ssh_config alias (`pi5`) and the default remote folder, as a user types them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

from sshd import SSHD, LoopbackSshd

ROOT = Path(__file__).resolve().parents[1]
BASE_PYTHON = str(Path(sys.base_prefix) / "bin" / "python3")
SHORT_BENCH = ["--warmup", "1", "--min-runs", "5", "--min-seconds", "0.05", "--accuracy-faces", "20"]
SHORT_TRAIN = ["--epochs", "1", "--subset", "64"]


@dataclass
class Run:
    add: list[str] = field(default_factory=list)  # options appended (shortening, or standing in for the user's machine)
    sub: dict[str, str] = field(default_factory=dict)  # placeholders a user fills in: {"0": "drive.mp4"} etc.
    device: bool = False  # needs the loopback SSH device
    exit_code: int = 0


NOT_HERE = {
    "edgemark train --recipe recipes/mobilenetv2_96_wflw98.yaml --format wflw --list "
    "WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_train.txt --images WFLW_images --out runs/mnv2_96_wflw98":
        "WFLW cannot be downloaded here; tests/test_wflw_path.py runs train --format wflw, export, predict and eval on a "
        "WFLW-format list built from the face mesh's points on CUHK photos",
    "edgemark train --recipe recipes/mobilenetv2_96_ibug68.yaml --format 300w --list 300W_train/ --out runs/mnv2_96_ibug68":
        "300-W cannot be downloaded here; tests/test_wflw_path.py trains one epoch with --format 300w on a folder of .pts files",
    "edgemark export --checkpoint mobilenetv2_96 --target tflite,onnx,openvino --precision int8 --nme-budget 0.05 --ranking "
    "quant-debug.json --data ~/data/cuhk --out runs/export/budget005":
        "it needs the quant-debug report with its NME column (15 min on 2 cores) and then measures 1,000 validation faces per "
        "try in three runtimes; tests/test_quant_debug.py runs --nme-budget and --ranking through real LiteRT, onnxruntime "
        "and OpenVINO conversions on the fixture checkpoint, and benchmarks/nme-budget-2026-12-04 has this run",
    "edgemark bench --model runs/export/budget005 --target tflite,onnx,openvino --precision int8 --threads 1 --data ~/data/cuhk":
        "it benches the export above; tests/test_quant_debug.py::test_bench_checks_the_budget_on_its_validation_faces runs "
        "edgemark bench on a budget export as typed, and benchmarks/nme-budget-2026-12-04 has this run",
    "python3 -m venv .venv && .venv/bin/pip install -e '.[dev,all]' && .venv/bin/edgemark models fetch && .venv/bin/edgemark eval "
    "--model mobilenetv2_96 --data ../shared/datasets/cuhk_facepoint --box detector":
        "the install itself: .ci/run runs it on a fresh machine (and the eval below runs here)",
    ".venv/bin/python -m pytest -q": "this test suite",
    "pip install .": "installs into the tests' own venv: tests/test_wheel.py builds the wheel, installs it in a fresh venv "
                     "outside the checkout and runs the commands from an empty folder",
    "mkdocs build --strict --site-dir site": "tests/test_docs.py runs it into a temporary folder",
    "edgemark export --checkpoint mobilenetv2_96 --out exported/mobilenetv2_96 --data ~/data/cuhk":
        "it rewrites the repository's exported/mobilenetv2_96 (linked into the workspace); the export above runs the same code, "
        "and tests/test_wheel.py exports from the shipped checkpoint",
    "pip install 'edgemark[sweep]'": "installed by .ci/run ('.[dev,all]')",
    "edgemark bench --model mobilenetv2_96 --device gpu --data ~/data/cuhk":
        "needs an NVIDIA GPU: tests/test_gpu.py checks its named refusal here; tools/gpu_check.sh runs it on a GPU machine "
        "(benchmarks/mobilenetv2_96-gpu-h200-2026-12-04)",
    "pip uninstall -y onnxruntime && pip install 'edgemark[gpu]'":
        "onnxruntime-gpu replaces the CPU build the other tests run; tests/test_gpu.py checks the refusal of a CUDA session "
        "that fell back to the CPU",
    "torchrun --nnodes 2 --node-rank 0 --master-addr HOST0 --master-port 29500 --nproc-per-node 8 -m edgemark train ...":
        "a template for two machines ('...': the options above); tests/test_distributed.py runs a 2-process job",
    "edgemark sweep recipes/*.yaml --address auto ...": "a template for a Ray cluster; tests/test_sweep.py checks the error without one",
}

RUNS = {
    "edgemark predict photo.jpg": Run(),
    "edgemark predict photo.jpg --out photo_landmarks.png": Run(),
    "edgemark predict photo.jpg --box 120,80,260,220": Run(),
    "edgemark models fetch": Run(),
    "edgemark models fetch --wheel mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl": Run(),
    "edgemark models list": Run(),
    # the official URL is not reachable here: the same archive layout is served on loopback
    "edgemark data download --to ~/data/cuhk": Run(sub={"~/data/cuhk": "downloaded"}, add=["--url", "{archive_url}"]),
    "edgemark data download --archive train.zip --to ~/data/cuhk": Run(sub={"~/data/cuhk": "from_archive"}),
    "edgemark data stats --data ~/data/cuhk": Run(),
    "edgemark data show --data ~/data/cuhk --n 16 --out grid.png": Run(),
    "edgemark data pseudo-label --data ~/data/cuhk --out runs/pseudo": Run(),
    "edgemark data pseudo-label --data ~/data/cuhk --out runs/pseudo_mirror --mirror --max-teacher-nme 0.10": Run(),
    "edgemark train --recipe recipes/mobilenetv2_96.yaml --data ~/data/cuhk --out runs/mnv2": Run(add=SHORT_TRAIN),
    "edgemark train --recipe recipes/mobilenetv2_96.yaml --data ~/data/cuhk --out runs/mnv2 --resume": Run(add=SHORT_TRAIN),
    "edgemark train --recipe recipes/mobilenetv2_96_finetune.yaml --data ~/data/cuhk --out runs/distill --teacher runs/mnv2/best.pt "
    "--distill-weight 0.7 --init runs/mnv2/best.pt": Run(add=SHORT_TRAIN),
    "edgemark train --recipe recipes/mobilenetv2_96_teacher_points.yaml --list runs/pseudo_mirror/trainImageList.drive23.txt "
    "--images ~/data/cuhk --init runs/mnv2/best.pt --out runs/tp": Run(add=SHORT_TRAIN),
    "edgemark keep-points --checkpoint runs/tp/best.pt --data ~/data/cuhk --out runs/tp/best5.pt": Run(),
    "torchrun --standalone --nproc-per-node 4 -m edgemark train --recipe recipes/mobilenetv2_96.yaml --data ~/data/cuhk --out runs/ddp":
        Run(add=SHORT_TRAIN),
    "edgemark sweep recipes/mobilenetv2_96.yaml recipes/study/mnv2_96_light.yaml --seeds 0,1 --data ~/data/cuhk --cpus-per-trial 2":
        Run(add=["--epochs", "1", "--subset", "32"]),
    "edgemark eval --checkpoint runs/mnv2/best.pt --data ~/data/cuhk": Run(),
    "edgemark eval --model mobilenetv2_96 --data ~/data/cuhk --box detector": Run(),
    "edgemark eval --checkpoint runs/mnv2/best.pt --list MTFL/testing.txt --format mtfl --box landmarks": Run(),
    "edgemark robustness --model exported/mobilenetv2_96/tflite-int8 --data ~/data/cuhk --detector blazeface-anyroll":
        Run(add=["--faces", "2", "--compare-detector", "haar"]),
    "edgemark export --checkpoint runs/mnv2/best.pt --target all --precision all --out exported/mnv2 --data ~/data/cuhk":
        Run(add=["--calib-size", "16"]),
    "edgemark eval --model exported/mnv2/tflite-int8 --data ~/data/cuhk": Run(),
    # the per-layer error columns as typed; the per-layer NME search (63 int8 graphs on 1,000 validation faces,
    # 18 min on 2 busy cores) runs in tests/test_quant_debug.py on the small fixture checkpoint
    "edgemark quant-debug mobilenetv2_96 --target tflite --data ~/data/cuhk --json quant-debug.json --md quant-debug.md":
        Run(add=["--no-nme"]),
    "edgemark bench --model mobilenetv2_96 --device cpu --threads 1,2 --batch 1,8 --data ~/data/cuhk":
        Run(add=["--target", "tflite", "--precision", "int8", *SHORT_BENCH]),
    "edgemark bench compare benchmarks/A benchmarks/B": Run(),
    "edgemark eval --model mobilenetv2_96 --data ~/data/cuhk --box detector --tta flip": Run(),
    "edgemark bench --model mobilenetv2_96 --target onnx,tflite --precision int8 --rounds 5 --data ~/data/cuhk --out benchmarks/baseline":
        Run(add=[*SHORT_BENCH, "--detector", "none", "--rounds", "2"]),
    # the rerun against it: a shared VM drifts, so the test allows any slowdown (tests/test_bench_gate.py checks that a
    # slower run fails); what it runs is the gate as typed, refusing nothing on the same machine
    "edgemark bench --model mobilenetv2_96 --target onnx,tflite --precision int8 --rounds 5 --data ~/data/cuhk --out bench-new "
    "--baseline benchmarks/baseline --max-slowdown 10 --max-drop 0.1":
        Run(add=[*SHORT_BENCH, "--detector", "none", "--rounds", "2", "--max-slowdown", "100000", "--max-drop", "5"]),
    "edgemark bench gate bench-new --baseline benchmarks/baseline": Run(add=["--max-slowdown", "100000", "--max-drop", "5"]),
    "edgemark profile mobilenetv2_96/onnx-fp32 mobilenetv2_96/onnx-int8 mobilenetv2_96/openvino-fp32 mobilenetv2_96/openvino-int8 "
    "--out profile": Run(add=["--runs", "5", "--warmup", "2"]),  # A and B: the folders the runs above wrote
    "edgemark profile mobilenetv2_96/tflite-int8 mobilenetv2_96/tflite-fp32 --detector blazeface": Run(add=["--runs", "5", "--warmup", "2"]),
    "edgemark profile mobilenetv2_96/tflite-int8 --detector blazeface": Run(add=["--runs", "5", "--warmup", "2"]),
    "edgemark deploy --model mobilenetv2_96 --target tflite --precision int8 --host pi5 --data ~/data/cuhk":
        Run(device=True, add=["--test-faces", "20"]),
    "edgemark bench --model mobilenetv2_96 --target tflite,onnx --device ssh://pi5 --threads 1,4 --data ~/data/cuhk":
        Run(device=True, add=["--precision", "int8", *SHORT_BENCH]),
    "edgemark profile mobilenetv2_96/tflite-int8 mobilenetv2_96/onnx-int8 --detector blazeface --device ssh://pi5":
        Run(device=True, add=["--runs", "5", "--warmup", "2"]),
    "scp face.jpg pi5:": Run(device=True),
    "ssh pi5 edgemark/bundles/mobilenetv2_96/bin/edgemark predict --model edgemark/bundles/mobilenetv2_96/artifacts/tflite-int8 "
    "face.jpg --out face_landmarks.png": Run(device=True),
    "edgemark bench --model mobilenetv2_96 --target tflite,onnx --precision int8 --devices devices.yaml --data ~/data/cuhk":
        Run(device=True, add=SHORT_BENCH),
    "edgemark demo --model mobilenetv2_96 --source 0": Run(sub={"0": "drive.mp4"}, add=["--max-frames", "40"]),
    "edgemark demo --source drive.mp4 --mode drive --out annotated.mp4 --events events.jsonl --no-window": Run(),
    "edgemark demo --source 0 --mode filters": Run(sub={"0": "drive.mp4"}, add=["--max-frames", "40"]),
    "edgemark demo --model dense68 --source 0 --mode filters": Run(sub={"0": "drive.mp4"}, add=["--max-frames", "40"]),
    "edgemark demo --model drive23 --source drive.mp4 --events events.jsonl --no-window": Run(),
    # the study of docs/study-pipeline.md, cut to a few faces, one detector and one condition (the last option wins)
    "python -m edgemark.studies.detector_study --data ~/data/cuhk --candidates 0.5,0.3,0.2,0.1 --detectors blazeface,blazeface-full,haar "
    "--refine 0,1,2 --upright 0,1 --conditions photo,eyes24,eyes48,roll30,roll60 --out pipeline_study.md":
        Run(add=["--faces", "6", "--candidates", "", "--detectors", "blazeface", "--refine", "0", "--upright", "1", "--conditions", "photo"]),
}


def doc_pages() -> list[Path]:
    """README.md, then the documentation's pages in the order of mkdocs.yml's nav."""
    import yaml

    def flat(nav):
        for item in nav:
            for value in (item.values() if isinstance(item, dict) else [item]):
                if isinstance(value, str):
                    yield value
                else:
                    yield from flat(value)

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    return [ROOT / "README.md", *(ROOT / "docs" / page for page in flat(nav))]


def page_commands(page: Path) -> list[str]:
    """Command lines of one page's bash blocks: comments dropped, continuations joined."""
    lines, block = [], None
    for raw in page.read_text().splitlines():
        if raw.startswith("```"):
            block = [] if raw.strip() == "```bash" and block is None else None
            continue
        if block is None:
            continue
        line = re.sub(r"(^|\s{2,})#.*$", "", raw).strip()
        if lines and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1].rstrip() + " " + line
        elif line:
            lines.append(line)
    return lines


def readme_commands() -> dict[str, str]:
    """Every command line of the README and the docs, each once, in page order: {command: page}."""
    commands: dict[str, str] = {}
    for page in doc_pages():
        for line in page_commands(page):
            commands.setdefault(line, str(page.relative_to(ROOT)))
    return commands


def test_every_page_is_in_the_nav():
    """A page left out of mkdocs.yml's nav would have its commands go unchecked."""
    pages = {p.relative_to(ROOT) for p in doc_pages()}
    missing = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md") if p.relative_to(ROOT) not in pages)
    assert not missing, f"docs pages missing from mkdocs.yml's nav: {missing}"


def test_every_readme_and_docs_command_is_run_here_or_says_why_not():
    commands = readme_commands()
    assert len(commands) > 20
    unknown = [f"{page}: {c}" for c, page in commands.items() if c not in RUNS and c not in NOT_HERE]
    assert not unknown, f"commands of the README or docs with no way to run them in tests/test_readme.py: {unknown}"
    stale = [c for c in list(RUNS) + list(NOT_HERE) if c not in commands]
    assert not stale, f"tests/test_readme.py runs commands the README and docs no longer have: {stale}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, small_lists, data_dir, detector_models):
    """A folder to type the commands in: the repository's recipes and shipped model linked,
    the user's photo, clip, MTFL list and archive beside them."""
    ws = tmp_path_factory.mktemp("readme")
    (ws / "recipes").symlink_to(ROOT / "recipes")
    (ws / "exported").mkdir()
    for shipped in (ROOT / "exported").iterdir():
        if shipped.is_dir():
            (ws / "exported" / shipped.name).symlink_to(shipped)
    from edgemark.data.lists import read_list

    test = read_list(small_lists / "testImageList.txt").records
    shutil.copy(test[0].image_path, ws / "photo.jpg")
    shutil.copy(test[1].image_path, ws / "face.jpg")
    mtfl = ws / "MTFL"
    mtfl.mkdir()
    (mtfl / "net_7876").symlink_to(small_lists / "net_7876")
    (mtfl / "testing.txt").write_text("".join(
        "net_7876/" + r.image_path.name + " " + " ".join(f"{v:.1f}" for v in (*r.landmarks[:, 0], *r.landmarks[:, 1])) + " 1 1 1 1\n"
        for r in test[:20]))
    sys.path.insert(0, str(Path(__file__).parent))
    from demo_video import build_video
    from test_download import make_archive

    (ws / "train.zip").write_bytes(make_archive())
    clip = build_video(data_dir, ws / "clip.avi")
    cap, writer = cv2.VideoCapture(str(clip)), cv2.VideoWriter(str(ws / "drive.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for _ in range(int(cap.get(cv2.CAP_PROP_FRAME_COUNT))):
        ok, frame = cap.read()
        if ok:  # the clip's one damaged frame is left out
            writer.write(frame)
    writer.release()
    return ws


@pytest.fixture(scope="module")
def device(tmp_path_factory, workspace):
    """The loopback 'Pi': an ssh_config with a Host pi5 entry (what a user has in
    ~/.ssh/config), and the default remote folder ~/edgemark, cleaned of what we made."""
    if not Path(SSHD).exists():
        pytest.skip("needs an OpenSSH server (apt-get install openssh-server; .ci/run does)")
    server = LoopbackSshd(tmp_path_factory.mktemp("pi5")).start()
    config = server.dir / "pi5_config"
    config.write_text(server.config.read_text().replace("Host edgedevice", "Host pi5"))
    home = Path(os.path.expanduser("~" + __import__("psutil").Process().username()))
    before = {p: p.exists() for p in (home / "edgemark", home / "face.jpg", home / "face_landmarks.png")}
    (workspace / "devices.yaml").write_text(
        f"devices:\n  - name: desktop\n    local: cpu\n  - name: pi5\n    host: pi5\n    ssh_config: {config}\n"
        f"    python: {BASE_PYTHON}\n    remote_dir: {server.dir / 'fleet'}\n")
    yield config
    server.kill()
    for path, existed in before.items():
        if not existed and path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    if before[home / "edgemark"]:
        shutil.rmtree(home / "edgemark" / "bundles" / "mobilenetv2_96", ignore_errors=True)


def argv_of(line: str, run: Run, data: Path, config: Path | None, workspace: Path, archive_url: str) -> list[str]:
    argv = shlex.split(line)
    for old, new in run.sub.items():  # what the user fills in, then their data folder
        argv = [new if a == old else a for a in argv]
    argv = [str(data) if a == "~/data/cuhk" else a for a in argv]
    if line.startswith("edgemark bench compare"):
        found = sorted(str(p.relative_to(workspace)) for p in (workspace / "benchmarks").glob("*/results.json"))
        argv = argv[:3] + [str(Path(found[0]).parent), str(Path(found[-1]).parent)]
    if argv[0] == "edgemark":
        argv = [sys.executable, "-m", "edgemark", *argv[1:]]
    elif argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    elif argv[0] == "torchrun":
        argv = [sys.executable, "-m", "torch.distributed.run", *argv[1:]]
    elif argv[0] in ("ssh", "scp"):
        argv = [argv[0], "-F", str(config), *argv[1:]]
    if config is not None and argv[0] == sys.executable and "--devices" not in argv:
        argv += ["--ssh-config", str(config), "--python", BASE_PYTHON]
    return argv + [a.format(archive_url=archive_url) for a in run.add]


@pytest.fixture(scope="module")
def archive_url():
    import http.server
    import threading

    from test_download import RangeHandler, make_archive

    RangeHandler.payload, RangeHandler.requests = make_archive(), []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/train.zip"
    httpd.shutdown()


@pytest.mark.parametrize("line", [c for c in readme_commands() if c in RUNS])
def test_readme_command_runs_as_typed(line, workspace, small_lists, archive_url, request):
    run = RUNS[line]
    config = request.getfixturevalue("device") if run.device else None
    env = {**os.environ}
    xvfb = None
    if "--source" in line and "--no-window" not in line:  # the webcam commands open a window: a virtual display
        if shutil.which("Xvfb"):
            display = f":{150 + os.getpid() % 100}"
            xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "800x600x24"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            socket = Path("/tmp/.X11-unix") / f"X{display[1:]}"
            for _ in range(100):  # until the server listens (the previous command's server, same number, has exited)
                if socket.exists():
                    break
                time.sleep(0.1)
            env["DISPLAY"] = display
        else:
            run = Run(sub=run.sub, add=[*run.add, "--no-window", "--events", "webcam_events.jsonl"])
    try:
        done = subprocess.run(argv_of(line, run, small_lists, config, workspace, archive_url), cwd=workspace, capture_output=True, text=True,
                              timeout=1200, env=env)
    finally:
        if xvfb:
            xvfb.terminate()
            xvfb.wait(timeout=30)  # its socket and lock gone before the next command's server takes the number
    assert done.returncode == run.exit_code, f"{line}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr
    check = CHECKS.get(line)
    if check:
        check(workspace, done)


def _predicted(workspace, done):
    faces = json.loads(done.stdout)["faces"]
    assert faces and len(faces[0]["landmarks"]) == 5


def _on_device(workspace, done):
    assert json.loads(done.stdout)["faces"]


CHECKS = {
    "edgemark predict photo.jpg": _predicted,
    "edgemark predict photo.jpg --out photo_landmarks.png": lambda ws, d: (_predicted(ws, d), (ws / "photo_landmarks.png").stat()),
    "edgemark predict photo.jpg --box 120,80,260,220": _predicted,
    "edgemark data show --data ~/data/cuhk --n 16 --out grid.png": lambda ws, d: (ws / "grid.png").stat(),
    "edgemark train --recipe recipes/mobilenetv2_96.yaml --data ~/data/cuhk --out runs/mnv2":
        lambda ws, d: (ws / "runs" / "mnv2" / "best.pt").stat(),
    "edgemark export --checkpoint runs/mnv2/best.pt --target all --precision all --out exported/mnv2 --data ~/data/cuhk":
        lambda ws, d: (ws / "exported" / "mnv2" / "tflite-int8" / "manifest.json").stat(),
    "edgemark demo --source drive.mp4 --mode drive --out annotated.mp4 --events events.jsonl --no-window":
        lambda ws, d: np.testing.assert_array_less(0, (ws / "annotated.mp4").stat().st_size),
    "ssh pi5 edgemark/bundles/mobilenetv2_96/bin/edgemark predict --model edgemark/bundles/mobilenetv2_96/artifacts/tflite-int8 "
    "face.jpg --out face_landmarks.png": _on_device,
}
