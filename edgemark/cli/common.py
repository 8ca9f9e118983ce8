"""What every command module shares: the Typer apps, the consoles, data/list options and
small option parsers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape

from ..errors import EdgemarkError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train, evaluate and ship facial landmark models to edge devices.")
data_app = typer.Typer(no_args_is_help=True, help="Inspect and fetch landmark data sets.")
app.add_typer(data_app, name="data")
bench_app = typer.Typer(help="Benchmark exported artifacts: latency, memory, size, accuracy drop.")
app.add_typer(bench_app, name="bench")
console = Console()


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        print(f"edgemark {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit.")):
    """Train, evaluate and ship facial landmark models to edge devices."""
err_console = Console(stderr=True, soft_wrap=True)


def resolve_data(data: Optional[Path]) -> Path:
    """--data, else $EDGEMARK_DATA, else a clear error."""
    if data is None:
        env = os.environ.get("EDGEMARK_DATA")
        if not env:
            raise EdgemarkError("no data set given: pass --data DIR or set EDGEMARK_DATA "
                                "(get the CUHK set with: edgemark data download --to DIR)")
        data = Path(env)
    if not data.is_dir():
        raise EdgemarkError(f"{data}: data folder not found")
    return data


DataOption = typer.Option(None, "--data", help="Data set folder (default: $EDGEMARK_DATA).")
# reaching a device with --device ssh://... (bench, profile)
SshPortOption = typer.Option(None, "--port", help="SSH port for --device ssh://...")
SshIdentityOption = typer.Option(None, "--identity", help="SSH private key for --device ssh://...")
SshConfigOption = typer.Option(None, "--ssh-config", help="An ssh_config file for --device ssh://...")
DevicePythonOption = typer.Option("python3", "--python", help="Python on the device that creates the venv (--device ssh://...).")
RemoteDirOption = typer.Option("edgemark", "--remote-dir", help="Folder on the device (--device ssh://...).")
# a shipped model by name (edgemark/shipped.py): found from any folder, in a clone or an installed package
DEFAULT_MODEL = Path("mobilenetv2_96")
ModelHelp = ("A shipped model by name (mobilenetv2_96, drive23: its int8 TFLite artifact; NAME/ARTIFACT, e.g. drive23/onnx-int8; "
             "edgemark models list), or an artifact folder or checkpoint path.")
DetectorOption = typer.Option("blazeface", help="Face detector: blazeface (short range, default), blazeface-fast (the same "
                              "network int8 at 96 px, the 128 px float one only on frames where that finds no face: about 2x "
                              "faster on a frame with a near face; far faces cost both), blazeface-int8 (the same "
                              "network quantised to int8, 1.3x faster; build it once: python -m edgemark.detect.blazeface_int8; "
                              "blazeface-fast needs it too), blazeface-96, blazeface-int8-96, blazeface-112, blazeface-int8-112 "
                              "(smaller inputs: miss more small faces), "
                              "blazeface-full (far faces), "
                              "blazeface-anyroll (faces on their side or upside down: 4 runs per frame), "
                              "yunet (needs --detector-model) or haar.")
DetectorModelOption = typer.Option(None, help="The detector's model file (yunet: its ONNX file; blazeface: default the pinned "
                                   "file from 'edgemark models fetch').")
RefineOption = typer.Option(None, help="Refinement passes: re-crop from the landmarks with the model's box rule and predict "
                            "again (default, as measured: 0 after BlazeFace, 1 after Haar, 2 for a --box).")


def _report_skipped(faces) -> None:
    if faces.skipped:
        console.print(f"[yellow]skipped {len(faces.skipped)} bad lines[/] of {faces.path}; first: {escape(faces.skipped[0])}")


def open_list(list_file: Optional[Path], data: Optional[Path], default_name: str, fmt: str, num_points: int,
              images: Optional[Path] = None, skip_bad: bool = False):
    """The list to read: --list (images relative to --images or the list's folder), else
    DATA/default_name from --data or $EDGEMARK_DATA."""
    from ..data.lists import read_list

    if list_file is None:
        list_file = resolve_data(data) / default_name
    faces = read_list(list_file, fmt, num_points, image_root=images, skip_bad=skip_bad)
    _report_skipped(faces)
    return faces


ListOption = typer.Option(None, "--list", help="List file; image paths are relative to --images or the list's folder.")
ImagesOption = typer.Option(None, "--images", help="Folder the list's image paths are relative to (default: the list's folder).")


def progress_bar(description: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console, transient=True)


def choices(value: str, allowed: tuple, option: str) -> list[str]:
    chosen = list(allowed) if value == "all" else [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in chosen if v not in allowed]
    if bad or not chosen:
        raise EdgemarkError(f"{option}: {', '.join(bad) or value!r} not one of {', '.join(allowed)} (or all)")
    return chosen


def int_list(value: str, option: str, minimum: int = 1) -> list[int]:
    try:
        values = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise EdgemarkError(f"{option}: expected comma-separated integers, got {value!r}") from None
    if not values or min(values) < minimum:
        raise EdgemarkError(f"{option}: expected integers of at least {minimum}, got {value!r}")
    return values


def ssh_target(host: str, port: Optional[int], identity: Optional[Path], ssh_config: Optional[Path]):
    from ..remote.ssh import SshTarget

    return SshTarget.parse(host, port=port, identity=str(identity) if identity else None,
                           config=str(ssh_config) if ssh_config else None)


def load_test_crops(data: Optional[Path], artifact: Path, faces_limit: Optional[int]):
    """Test crops for accuracy (on this machine or shipped to a device), or None without data."""
    from ..data.lists import read_list
    from ..evaluate import crop_list
    from ..predictors.load import load_predictor

    try:
        data_dir = resolve_data(data)
    except EdgemarkError as e:
        console.print(f"[yellow]speed and memory only:[/] accuracy needs a data set ({escape(str(e))})")
        return None
    faces = read_list(data_dir / "testImageList.txt")
    if faces_limit:
        faces.records = faces.records[:faces_limit]
    crops, mats = crop_list(faces, load_predictor(artifact).crop)
    return crops, mats, np.stack([r.landmarks for r in faces.records]), f"{Path(faces.path).name} ({len(faces)} faces)"


def load_bench_frame(data: Optional[Path]):
    """The 640x480 frame with a face the pipeline rows are timed on, or None without data."""
    from ..bench.frame import bench_frame

    try:
        return bench_frame(resolve_data(data))
    except EdgemarkError as e:
        console.print(f"[yellow]no pipeline rows:[/] they need a frame with a face from the data set ({escape(str(e))})")
        return None


def opencv_has_no_gui() -> bool:
    import re

    import cv2

    return bool(re.search(r"GUI:\s+NONE", cv2.getBuildInformation()))


def bundle_name(model: Path) -> str:
    model = Path(model).resolve()
    return model.name if not (model / "manifest.json").exists() else f"{model.parent.name}-{model.name}"


TtaOption = typer.Option("none", help="Test-time averaging: flip = each face and its mirror image in one call, averaged "
                         "(twice the landmark cost; about 0.25 pp less NME for the shipped model), or none.")
NoAmxOption = typer.Option(False, "--no-amx", help="Refuse Intel AMX to this process before any runtime loads: on AMX Xeons "
                           "XNNPACK's int8 kernels run 1.3-1.7x faster without it for this narrow model (README, Results). "
                           "Nothing to refuse on other CPUs.")


def refuse_amx(no_amx: bool) -> None:
    """--no-amx for a command that runs the models in its own process (predict, demo)."""
    from .. import x86_amx

    if no_amx and x86_amx.refusable():
        x86_amx.deny_amx()
