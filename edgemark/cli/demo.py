"""edgemark demo."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from ..demo.drive import DriveConfig
from ..errors import EdgemarkError
from .common import DEFAULT_MODEL, TtaOption, DetectorModelOption, DetectorOption, ModelHelp, NoAmxOption, app, console, opencv_has_no_gui, progress_bar, refuse_amx


def _drive(name: str, help: str):
    """A drive-mode option whose default is DriveConfig's (the sources of each are there)."""
    return typer.Option(DriveConfig.__dataclass_fields__[name].default, help=help, rich_help_panel="Drive mode")


@app.command()
def demo(
    model: Path = typer.Option(DEFAULT_MODEL, help=ModelHelp),
    source: str = typer.Option("0", help="Webcam index, video file or stream URL."),
    mode: str = typer.Option("drive", help="drive (driver monitoring) or filters (sunglasses, moustache, hat; with the 68 "
                             "iBUG points, e.g. dense68: face paint, lip tint, glasses)."),
    filters: Optional[str] = typer.Option(None, help="Filters mode: these filters, a comma list (hat, sunglasses, moustache: "
                                          "the 5 labelled points; face_paint, lip_tint, glasses: the 68 iBUG points); default: "
                                          "the ones the model's scheme takes."),
    out: Optional[Path] = typer.Option(None, help="Write the annotated video here (.mp4)."),
    events: Optional[Path] = typer.Option(None, help="Write every event as a JSON line here."),
    window: Optional[bool] = typer.Option(None, "--window/--no-window", help="Show a window (default: when a display exists)."),
    detector: str = DetectorOption,
    detector_model: Optional[Path] = DetectorModelOption,
    detect_every: int = typer.Option(10, help="Run the detector every N frames (and whenever tracking is lost)."),
    smooth: bool = typer.Option(True, help="One Euro smoothing of the landmarks."),
    min_cutoff: float = typer.Option(1.5, help="One Euro min cutoff (Hz): lower = smoother at rest."),
    beta: float = typer.Option(0.02, help="One Euro beta: higher = less lag in fast motion."),
    threads: Optional[int] = typer.Option(None, help="Inference threads."),
    no_amx: bool = NoAmxOption,
    tta: str = TtaOption,
    max_frames: Optional[int] = typer.Option(None, help="Stop after N frames."),
    yaw_limit: float = _drive("yaw_limit", "Distracted when |yaw| exceeds this (degrees)..."),
    pitch_down_limit: float = _drive("pitch_down_limit", "...or the head is down by more than this (degrees)..."),
    distraction_seconds: float = _drive("distraction_seconds", "...for this long (s)."),
    baseline_seconds: float = _drive("baseline_seconds", "Learn the driver's open-eye EAR over this much face looking ahead (s)."),
    closed_ratio: float = _drive("closed_ratio", "Eyes closed when EAR / open-eye EAR is below this..."),
    ear_floor: float = _drive("ear_floor", "...or EAR is below this, whatever the open-eye EAR."),
    reopen_ratio: float = _drive("reopen_ratio", "Closed eyes open again when either eye's EAR / open-eye EAR is back above this."),
    closed_seconds: float = _drive("closed_seconds", "eyes_closed after this long closed (s)."),
    long_blink_seconds: float = _drive("long_blink_seconds", "long_blink: a blink lasting this long (s) or more."),
    perclos_closure: float = _drive("perclos_closure", "PERCLOS counts time with the eyes at least this much closed (0.8: P80)."),
    shut_ear: float = _drive("shut_ear", "The EAR of a shut eye (closure 100 %; the open-eye EAR is closure 0)."),
    min_closure_span: float = _drive("min_closure_span", "...at least this share of the open-eye EAR below it (narrow eyes)."),
    perclos_window: float = _drive("perclos_window", "PERCLOS and blink-rate window (s)."),
    perclos_limit: float = _drive("perclos_limit", "perclos event at this share of the window."),
    perclos_min_seconds: float = _drive("perclos_min_seconds", "...once the window holds this much visible face (s)."),
    yawn_mar: float = _drive("yawn_mar", "Yawn when the mouth aspect ratio reaches this..."),
    yawn_seconds: float = _drive("yawn_seconds", "...for this long (s)."),
    relearn_seconds: float = _drive("relearn_seconds", "Learn the driver again when the face is back after this long without one (s)."),
):
    """Run a landmark model live: driver monitoring (distraction, face lost, head nods; with eyelid and lip points:
    eye closure, blinks, PERCLOS, yawns) or face filters."""
    from ..demo.runner import DemoOptions, run_demo
    from ..pipeline import load_pipeline

    if mode not in ("drive", "filters"):
        raise EdgemarkError(f"--mode must be drive or filters, not {mode!r}")
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if window is None:
        window = has_display and not opencv_has_no_gui()
    elif window and opencv_has_no_gui():
        console.print("[yellow]no window:[/] this OpenCV build has no GUI (opencv-python-headless); "
                      "pip install opencv-python (same version) in its place for a window")
        window = False
    elif window and not has_display:
        console.print("[yellow]no window:[/] no display here (neither DISPLAY nor WAYLAND_DISPLAY is set)")
        window = False
    if not window and out is None and events is None:
        raise EdgemarkError("headless run with nothing to write: pass --out and/or --events (or --window)")
    drive = DriveConfig(yaw_limit=yaw_limit, pitch_down_limit=pitch_down_limit, distraction_seconds=distraction_seconds,
                        baseline_seconds=baseline_seconds, closed_ratio=closed_ratio, ear_floor=ear_floor,
                        reopen_ratio=reopen_ratio, closed_seconds=closed_seconds, long_blink_seconds=long_blink_seconds,
                        perclos_closure=perclos_closure, shut_ear=shut_ear, min_closure_span=min_closure_span,
                        perclos_window=perclos_window, perclos_limit=perclos_limit, perclos_min_seconds=perclos_min_seconds,
                        yawn_mar=yawn_mar, yawn_seconds=yawn_seconds, relearn_seconds=relearn_seconds)
    refuse_amx(no_amx)
    pipeline = load_pipeline(model, detector, threads=threads, detector_file=detector_model, tta=tta)
    console.print(f"model: {pipeline.predictor.description}", markup=False, highlight=False)  # runtime, precision, +flip
    options = DemoOptions(mode=mode, detect_every=detect_every, smooth=smooth, min_cutoff=min_cutoff, beta=beta, out=out,
                          events=events, window=window, max_frames=max_frames, drive=drive,
                          filters=tuple(f.strip() for f in filters.split(",") if f.strip()) if filters else ())
    with progress_bar("demo") as bar:
        task = bar.add_task("", total=None)
        summary = run_demo(pipeline, source, options,
                           on_frame=lambda i, n: bar.update(task, completed=i + 1, total=n if n > 0 else None))
    s = summary["stage_ms"]
    console.print(f"{summary['frames']} frames ({summary['unreadable_frames']} unreadable), face in {summary['frames_with_face']}, "
                  f"detector ran {summary['detector_runs']} times; {summary['events']} events {summary['event_kinds']}")
    console.print(f"mean per frame: detect {s['detect']:.2f} ms, landmarks {s['landmarks']:.2f} ms, total {s['total']:.2f} ms; "
                  f"{summary['wall_fps']:.1f} FPS end to end (with decoding and writing)")
    if mode == "drive":
        drowsy = [f"{key} {summary[key]}" for key in ("blinks", "yawns") if key in summary]
        if "eye_baseline" in summary:
            base = summary["eye_baseline"]
            drowsy.append("open-eye EAR " + ("not learnt (too little face)" if base is None else f"{base[0]:.3f}/{base[1]:.3f}"))
        if drowsy:
            console.print(", ".join(drowsy))
        for line in summary["drive_off"]:
            console.print(line)
    for path in (out, events):
        if path:
            console.print(f"wrote {path}")


SSH_HELP = "SSH options: the target is user@host, a ~/.ssh/config alias, or ssh://user@host:port."
