"""Deploy a bundle to a device over SSH and run the benchmark there.

Remote layout (relative to the login directory unless absolute):
``REMOTE/venv`` (created once, reused), ``REMOTE/bundles/NAME``. A bundle is streamed
as tar into ``REMOTE/bundles/.incoming-NAME``, verified against its hashes on the
device, and only then renamed to ``NAME``: a copy cut short is never taken as valid.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

from ..errors import EdgemarkError
from .bundle import build_bundle
from .ssh import SshTarget

SWAP_SCRIPT = 'set -e; rm -rf "$2.old"; if [ -d "$2" ]; then mv "$2" "$2.old"; fi; mv "$1" "$2"; rm -rf "$2.old"'


def stream_tar(target: SshTarget, local: Path, remote: str, chunk: int = 1 << 16, on_bytes=None, timeout: float = 600) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(str(local), arcname=".")
    data = buf.getvalue()
    proc = subprocess.Popen(target.command(["sh", "-c", 'rm -rf "$1" && mkdir -p "$1" && tar -x -C "$1"', "sh", remote]),
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sent = 0
    try:
        while sent < len(data):
            proc.stdin.write(data[sent : sent + chunk])
            sent += min(chunk, len(data) - sent)
            if on_bytes:
                on_bytes(sent, len(data))
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise EdgemarkError(f"{target.host}: copying the bundle did not finish within {timeout:.0f} s") from None
    stderr = proc.stderr.read()
    proc.stderr.close()
    if proc.returncode != 0 or sent < len(data):
        err = target.error(proc.returncode or 255, stderr.decode(errors="replace"), "the bundle copy")
        raise EdgemarkError(f"{err} — {sent} of {len(data)} bytes sent; the device keeps no valid bundle, run deploy again")


def check_remote_dir(remote_dir: str) -> str:
    """The device folder: relative to the login folder unless absolute; '~/' means the login
    folder (a quoted '~' would not be expanded remotely); never empty or an option."""
    text = remote_dir.strip()
    if text.startswith("~/"):
        text = text[2:]
    text = text.rstrip("/") if text != "/" else text
    if not text or text in ("~", "/") or text.startswith("-") or any(not c.isprintable() for c in text):
        raise EdgemarkError(f"--remote-dir {remote_dir!r}: give a folder on the device (relative to the login folder, or absolute)")
    return text


def deploy(target: SshTarget, artifacts: list[Path], name: str, remote_dir: str = "edgemark", python: str = "python3",
           test_crops: tuple | None = None, on_step=None, on_bytes=None, frame=None, extra_requirements: tuple = ()) -> dict:
    """Build the bundle (``frame``: a 640x480 frame with a face for the pipeline rows of a
    device benchmark; ``extra_requirements``: packages beyond the runtimes', e.g. onnx for a
    profile), copy it, set up the venv, verify, publish."""
    step = on_step or (lambda message: None)
    remote_dir = check_remote_dir(remote_dir)
    bundles, venv = f"{remote_dir}/bundles", f"{remote_dir}/venv"
    final, incoming = f"{bundles}/{name}", f"{bundles}/.incoming-{name}"
    with tempfile.TemporaryDirectory(prefix="edgemark-bundle-") as tmp:
        step("building the bundle")
        local = Path(tmp) / name
        info = build_bundle(artifacts, local, test_crops, name, frame=frame, extra_requirements=extra_requirements)
        step(f"checking {target.host}")
        facts = json.loads(target.run([python, "-c", "import json, platform; print(json.dumps({'python': platform.python_version(), "
                                       "'machine': platform.machine()}))"], what=f"running {python} on the device", timeout=60))
        step(f"copying {sum((local / f).stat().st_size for f in info['files']) / 2**20:.1f} MiB")
        stream_tar(target, local, incoming, on_bytes=on_bytes)
    step("preparing the venv (created once, then reused)")
    target.run(["sh", "-c", 'test -x "$1/bin/python" || "$2" -m venv "$1"', "sh", venv, python], what="creating the venv", timeout=300)
    target.run([f"{venv}/bin/python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *info["requirements"]],
               what="pip install " + " ".join(info["requirements"]), timeout=1800)
    # a subshell: after a bare cd, a relative $2 (the default remote dir) would no longer resolve
    target.run(["sh", "-c", '(cd "$1" && pwd) > "$2/venv.path"', "sh", venv, incoming], what="recording the venv path")
    step("verifying hashes on the device")
    target.run(["env", f"PYTHONPATH={incoming}/runner", f"{venv}/bin/python", "-m", "edgemark.edge_cli", "verify", incoming],
               what="verifying the bundle", timeout=300)
    target.run(["sh", "-c", SWAP_SCRIPT, "sh", incoming, final], what="publishing the bundle")
    return {"host": target.host, "bundle": final, "venv": venv, "artifacts": info["artifacts"], "requirements": info["requirements"],
            "device_python": facts.get("python"), "device_machine": facts.get("machine")}


def remote_bench(target: SshTarget, bundle: str, threads: list[int], batches: list[int], warmup: int, min_runs: int,
                 min_seconds: float, command: str, amx: bool = True, rounds: int = 1, pin: bool = True, cores: list[int] | None = None,
                 detectors: list[str] | None = None, refine: int | None = None, reference: dict | None = None,
                 worker_timeout: float | None = None, tta: tuple = ()) -> dict:
    """Run the bundle's benchmark on the device with every option the host was given
    (``detectors`` None: the runner's default; [] none) and bring back its results.json,
    checked before anything is named or written after it. ``reference``: the host's torch
    fp32 accuracy on the shipped faces (bench/accuracy.py), which every row's drop is taken
    against (torch is never deployed)."""
    from ..bench.report import validate_results
    from ..bench.run import attach_reference

    out = f"{bundle}/results"
    options = [*([] if amx else ["--no-amx"]), *([] if pin else ["--no-pin"]),
               *(["--cores", ",".join(map(str, cores))] if cores else []),
               *(["--detector", ",".join(detectors)] if detectors is not None else []),
               *(["--refine", str(refine)] if refine is not None else []),
               *(["--worker-timeout", f"{worker_timeout:g}"] if worker_timeout is not None else []),
               *(["--tta", ",".join(tta)] if tta else [])]
    target.run([f"{bundle}/bin/edgemark", "bench", "--bundle", bundle, "--out", out, "--threads", ",".join(map(str, threads)),
                "--batch", ",".join(map(str, batches)), "--warmup", str(warmup), "--min-runs", str(min_runs),
                "--min-seconds", str(min_seconds), "--rounds", str(rounds), *options,
                "--command", command], what="the benchmark", timeout=3600 * rounds)
    text = target.run(["cat", f"{out}/results.json"], what="reading the results")
    source = f"{target.host}:{out}/results.json"
    try:
        results = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise EdgemarkError(f"{source}: not a benchmark result ({type(e).__name__}: {str(e)[:200]})") from None
    validate_results(results, source)  # the device's word: checked whole before the host uses any of it
    results["device"] = f"ssh://{target.host}"
    attach_reference(results, reference)
    return results


def remote_profile(target: SshTarget, bundle: str, artifacts: list[str], detectors: list[str], runs: int, warmup: int,
                   threads: int) -> dict:
    """Profile the bundle's artifacts and detector networks on the device (``edgemark profile
    --device ssh://``) and bring back its profile.json, checked whole before the host reads it."""
    from ..profile.report import check_profiles

    out = f"{bundle}/profile/profile.json"
    target.run([f"{bundle}/bin/edgemark", "profile", "--bundle", bundle, "--out", out, "--runs", str(runs), "--warmup", str(warmup),
                "--threads", str(threads), *(a for name in artifacts for a in ("--artifact", name)),
                *(a for name in detectors for a in ("--detector", name))], what="the profile", timeout=3600)
    text = target.run(["cat", out], what="reading the profile")
    source = f"{target.host}:{out}"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise EdgemarkError(f"{source}: not a profile ({type(e).__name__}: {str(e)[:200]})") from None
    check_profiles(data, source)
    return data
