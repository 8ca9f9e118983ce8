"""Benchmark a fleet: several devices (SSH hosts and this machine) at once.

Devices run concurrently (a thread each, from ``concurrent.futures``; the work itself is
the same ``run_bench`` / ``deploy`` + ``remote_bench`` as for one device). Each device's
results are written the moment it finishes; a device that fails is reported and does not
stop the others (and the run exits non-zero at the end); the merged table has one column
group per device and says which test faces each device's NME is over.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import EdgemarkError
from ..io import write_json_atomic, write_text_atomic


@dataclass(frozen=True)
class Device:
    name: str
    local: str | None = None  # cpu | gpu: this machine
    host: str | None = None  # user@host, an ssh config alias, or ssh://user@host:port
    port: int | None = None
    identity: str | None = None
    ssh_config: str | None = None
    python: str = "python3"
    remote_dir: str = "edgemark"


DEVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_device_name(name, where: str) -> str:
    """A device name is its result folder's name under the fleet folder: one plain path
    component (letters, digits, '.', '_', '-'; not starting with '.' or '-'), never a path."""
    if not isinstance(name, str) or not DEVICE_NAME.fullmatch(name):
        raise EdgemarkError(f"{where}: device name {name!r} is not a plain folder name (letters, digits, '.', '_' and '-', "
                            "starting with a letter or digit, at most 64 characters): it names the device's result folder")
    return name


def load_devices(path: Path) -> list[Device]:
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except OSError as e:
        raise EdgemarkError(f"{path}: cannot read the devices file ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        raise EdgemarkError(f"{path}: invalid YAML: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("devices"), list) or not data["devices"]:
        raise EdgemarkError(f"{path}: expected a top-level 'devices:' list")
    nodes = next(v for k, v in root.value if k.value == "devices").value
    known = {f.name for f in fields(Device)}
    devices = []
    for entry, node in zip(data["devices"], nodes):
        line = node.start_mark.line + 1
        if not isinstance(entry, dict):
            raise EdgemarkError(f"{path}:{line}: each device is a mapping (name, and local or host)")
        unknown = sorted(set(entry) - known)
        if unknown:
            raise EdgemarkError(f"{path}:{line}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(known))}")
        if "name" not in entry or (entry.get("local") is None) == (entry.get("host") is None):
            raise EdgemarkError(f"{path}:{line}: a device needs a name and exactly one of local (cpu|gpu) or host")
        check_device_name(entry["name"], f"{path}:{line}")
        if entry.get("local") not in (None, "cpu", "gpu"):
            raise EdgemarkError(f"{path}:{line}: local must be cpu or gpu")
        if entry.get("host") is not None:  # a bad host or port is the file's error, before any device runs
            from ..remote.ssh import SshTarget

            try:
                SshTarget.parse(str(entry["host"]), port=entry.get("port"))
            except EdgemarkError as e:
                raise EdgemarkError(f"{path}:{line}: {e}") from None
        devices.append(Device(**{k: (str(Path(v).expanduser()) if k in ("identity", "ssh_config") and v else v) for k, v in entry.items()}))
    names = [d.name for d in devices]
    if len(set(names)) != len(names):
        raise EdgemarkError(f"{path}: device names must be unique ({', '.join(names)})")
    return devices


def bench_device(device: Device, model: Path, artifacts: list[Path], settings: dict, test_crops, out: Path) -> dict:
    from .report import write_outputs
    from .run import run_bench

    # every option reaches every device: pinning (--no-pin, --cores), the pipeline rows (--detector, --refine)
    pin, cores = settings.get("pin", True), settings.get("cores")
    detectors, refine, frame = settings.get("detectors"), settings.get("refine"), settings.get("frame")
    if device.local:
        results = run_bench(model, device.local, settings["threads"], settings["batches"], out, settings["targets"],
                            settings["precisions"], test_crops, settings["warmup"], settings["min_runs"], settings["min_seconds"],
                            pin=pin, command=settings["command"], amx=settings.get("amx", True), rounds=settings.get("rounds", 1),
                            frame=frame, detectors=detectors or (), refine=refine, cores=cores,
                            worker_timeout=settings.get("worker_timeout", 900.0), tta=settings.get("tta", ()))
    else:
        from ..remote.bundle import device_artifacts
        from ..remote.deploy import deploy, remote_bench
        from ..remote.ssh import SshTarget

        target = SshTarget.parse(device.host, port=device.port, identity=device.identity, config=device.ssh_config)
        # ExecuTorch (it brings torch) only when --target names it
        chosen, _ = device_artifacts(artifacts, settings.get("target", "all"))
        deployed = deploy(target, chosen, settings["bundle"], device.remote_dir,
                          device.python, test_crops, frame=frame)
        results = remote_bench(target, deployed["bundle"], settings["threads"], settings["batches"], settings["warmup"],
                               settings["min_runs"], settings["min_seconds"], settings["command"],
                               amx=settings.get("amx", True), rounds=settings.get("rounds", 1), pin=pin, cores=cores,
                               detectors=detectors, refine=refine, reference=settings.get("reference"),
                               worker_timeout=settings.get("worker_timeout"), tta=settings.get("tta", ()))
        write_json_atomic(out / "results.json", results)
    write_outputs(results, out)
    return results


def run_fleet(devices: list[Device], model: Path, artifacts: list[Path], settings: dict, test_crops, out_dir: Path,
              on_done=None) -> dict:
    out_dir = Path(out_dir)
    for d in devices:  # devices made in code, not read by load_devices, too
        check_device_name(d.name, "fleet")
    done: dict[str, dict] = {}
    errors: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=len(devices)) as pool:
        futures = {pool.submit(bench_device, d, model, artifacts, settings, test_crops, out_dir / d.name): d for d in devices}
        for future in as_completed(futures):
            device = futures[future]
            try:
                done[device.name] = future.result()
            except EdgemarkError as e:
                errors[device.name] = str(e)
            except Exception as e:  # one device's surprise must not sink the fleet: report it
                errors[device.name] = f"{type(e).__name__}: {e}"
            write_json_atomic(out_dir / "fleet.json", {"devices": [d.name for d in devices], "finished": sorted(done), "errors": errors})
            if on_done:
                on_done(device.name, errors.get(device.name))
    merged = merged_table(devices, done, errors, settings["command"])
    write_text_atomic(out_dir / "fleet.md", merged)
    return {"results": done, "errors": errors, "table": merged}


def _subset(results: dict) -> str:
    return results.get("accuracy_list") or "no test faces (no --data)"


def merged_table(devices: list[Device], done: dict, errors: dict, command: str) -> str:
    names = [d.name for d in devices if d.name in done]
    keys = []
    for name in names:
        for r in done[name]["rows"]:
            key = (r["artifact"], r["threads"], r["batch"])
            if key not in keys:
                keys.append(key)
    lines = ["# Fleet benchmark", "", f"Command: `{command}`", ""]
    for name in names:
        m = done[name]["machine"]
        lines.append(f"- **{name}**: {m.get('board') or m['cpu']} ({m['machine']}, {m.get('cores')} cores), "
                     f"{m.get('distribution') or m['os']}; device {done[name].get('device') or 'local'}; "
                     f"NME on {_subset(done[name])}")
    for name, error in errors.items():
        lines.append(f"- **{name}**: not measured: {error}")
    with_nme = {name: _subset(done[name]) for name in names if any(r.get("nme") is not None for r in done[name]["rows"])}
    if len(set(with_nme.values())) > 1:
        lines += ["", "**Warning**: the NME columns are over different test faces ("
                  + "; ".join(f"{name}: {subset}" for name, subset in with_nme.items())
                  + "): not comparable across devices; benchmark all with the same --data and --accuracy-faces."]
    lines += ["", "| artifact | threads | batch | " + " | ".join(f"{n} p50 ms | {n} NME %" for n in names) + " |",
              "|---|---:|---:|" + "---:|---:|" * len(names)]
    for artifact, threads, batch in keys:
        cells = []
        for name in names:
            row = next((r for r in done[name]["rows"] if (r["artifact"], r["threads"], r["batch"]) == (artifact, threads, batch)), None)
            cells += ["n/a", "n/a"] if row is None else [f"{row['p50_ms']:.3f}", "n/a" if row.get("nme") is None else f"{row['nme'] * 100:.2f}"]
        lines.append(f"| {artifact} | {threads} | {batch} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
