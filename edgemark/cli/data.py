"""edgemark data: stats, show, download, pseudo-label."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import EdgemarkError
from .common import DataOption, ImagesOption, ListOption, console, data_app, open_list, progress_bar


# the list layout and landmark scheme, shared by stats and show
FormatOption = typer.Option("cuhk", "--format", help="List layout: cuhk, mtfl, wflw or 300w (a folder of images with .pts files, or a list of image paths).")
SchemeOption = typer.Option("cuhk5", help="Landmark scheme (cuhk5, ibug68, wflw98 or a YAML file).")


@data_app.command("stats")
def data_stats(
    data: Optional[Path] = DataOption,
    list_file: Optional[Path] = ListOption,
    images: Optional[Path] = ImagesOption,
    fmt: str = FormatOption,
    scheme: str = SchemeOption,
    sizes: bool = typer.Option(True, help="Decode every image to count image sizes."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the statistics as JSON."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip bad lines and report how many."),
):
    """Counts, image sizes, box sizes and inter-ocular distances of a list."""
    from rich.table import Table

    from ..data.stats import list_stats
    from ..io import write_json_atomic
    from ..scheme import load_scheme

    sch = load_scheme(scheme)
    faces = open_list(list_file, data, "trainImageList.txt", fmt, sch.num_points, images, skip_bad)
    with progress_bar("reading images") as bar:
        task = bar.add_task("", total=len(faces))
        stats = list_stats(faces, sch, sizes, lambda i, n: bar.update(task, completed=i))
    table = Table(title=f"{faces.path}: {stats['faces']} faces")
    for col in ("", "min", "p5", "median", "p95", "max", "mean"):
        table.add_column(col, justify="right")
    for key in ("box_width_px", "box_height_px", "interocular_px"):
        if key in stats:
            table.add_row(key, *(f"{stats[key][c]:.1f}" for c in ("min", "p5", "median", "p95", "max", "mean")))
    console.print(table)
    console.print("sources: " + ", ".join(f"{k} {v}" for k, v in stats["sources"].items()))
    if "image_sizes" in stats:
        console.print("image sizes: " + ", ".join(f"{k} ({v})" for k, v in stats["image_sizes"].items()))
    if "landmarks_inside_box" in stats:
        console.print(f"landmarks inside their box: {stats['landmarks_inside_box'] * 100:.1f}% of faces")
    if json_out:
        write_json_atomic(json_out, stats)


@data_app.command("show")
def data_show(
    data: Optional[Path] = DataOption,
    list_file: Optional[Path] = ListOption,
    images: Optional[Path] = ImagesOption,
    fmt: str = FormatOption,
    scheme: str = SchemeOption,
    n: int = typer.Option(16, "--n", help="How many faces."),
    seed: int = typer.Option(0, help="Which random faces."),
    out: Path = typer.Option(Path("grid.png"), help="PNG to write."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip bad lines and report how many."),
):
    """A grid of random faces with their box and landmarks drawn."""
    from ..data.stats import landmark_grid
    from ..plots import write_image
    from ..scheme import load_scheme

    sch = load_scheme(scheme)
    faces = open_list(list_file, data, "trainImageList.txt", fmt, sch.num_points, images, skip_bad)
    write_image(out, landmark_grid(faces, n, seed))
    console.print(f"wrote {out} ({min(n, len(faces))} faces)")


@data_app.command("download")
def data_download(
    to: Path = typer.Option(..., help="Folder to unpack the data set into."),
    url: str = typer.Option(None, help="Archive URL (default: the official CUHK MMLab train.zip)."),
    archive: Optional[Path] = typer.Option(None, help="Unpack this local copy of train.zip instead of downloading."),
    sha256: Optional[str] = typer.Option(None, help="Expected SHA-256 of the archive."),
    keep: bool = typer.Option(False, help="Keep the archive after unpacking."),
):
    """Download (resumable, verified) and unpack the CUHK LFW+Net archive."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from ..data.download import CUHK_URL, fetch, unpack

    if archive is None:
        to.mkdir(parents=True, exist_ok=True)
        src = url or CUHK_URL
        with Progress(TextColumn("downloading"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("", total=None)
            archive = fetch(src, to / "train.zip", progress=lambda done, total: bar.update(task, completed=done, total=total))
    elif not archive.is_file():
        raise EdgemarkError(f"{archive}: archive not found")
    report = unpack(archive, to, sha256)
    console.print(f"unpacked {report['files']} files into {to}; sha256 {report['sha256']}")
    for name, expected in report["expected_lists"].items():
        got = report["lists"].get(name)
        mark = "[green]ok" if got == expected else "[yellow]differs from the official count"
        console.print(f"  {name}: {got if got is not None else 'missing'} lines (official: {expected}) {mark}")
    if not keep and archive.parent == to and archive.name == "train.zip":
        archive.unlink()
    console.print(f"use it with: export EDGEMARK_DATA={to}")


@data_app.command("pseudo-label")
def data_pseudo_label(
    data: Optional[Path] = DataOption,
    list_file: Optional[Path] = ListOption,
    images: Optional[Path] = ImagesOption,
    out: Path = typer.Option(Path("runs/pseudo"), help="Folder for the list, its JSON sidecar, the check grid and the "
                             "teacher's work (resumable)."),
    scheme: str = typer.Option("drive23", help="The larger scheme to write: its labelled points come from the list, the "
                               "rest from the teacher (drive23, dense68 or a YAML file with a mesh mapping)."),
    upright: bool = typer.Option(True, "--upright/--no-upright", help="Turn each crop by the labelled eye line before "
                                 "the teacher sees it (measured: better)."),
    chunk: int = typer.Option(256, min=1, help="Faces per saved chunk of teacher work."),
    threads: Optional[int] = typer.Option(1, help="LiteRT threads for the teacher."),
    mirror: bool = typer.Option(False, "--mirror/--no-mirror", help="Also run the teacher on each crop mirrored and "
                                "average the two passes (a less noisy teacher; twice the time)."),
    max_teacher_nme: Optional[float] = typer.Option(None, "--max-teacher-nme", min=0.0, help="Also write NAME.SCHEME.clean.txt: "
                                                    "the faces where the teacher's NME on the labelled points is at most "
                                                    "this (0.10 for the drive23 model)."),
    min_presence: float = typer.Option(0.5, "--min-presence", min=0.0, max=1.0, help="With --max-teacher-nme: the least "
                                       "face-presence score the teacher must give."),
):
    """Teach eyelid and inner-lip points (drive23) or the 68 iBUG points (dense68) with MediaPipe's face mesh: a list of the larger scheme
    with the human labels first, unchanged, plus a JSON sidecar and a grid to check by eye."""
    from ..data.pseudo_label import pseudo_label
    from ..predictors.mediapipe_mesh import MediaPipeMesh
    from ..scheme import load_scheme

    sch = load_scheme(scheme)
    faces = open_list(list_file, data, "trainImageList.txt", "cuhk", len(sch.label_points), images)
    teacher = MediaPipeMesh("mesh468", threads=threads)
    with progress_bar("teaching") as bar:
        task = bar.add_task("", total=len(faces))
        result = pseudo_label(faces, teacher, sch, out, upright, chunk, lambda i, n: bar.update(task, completed=i),
                              mirror=mirror, max_teacher_nme=max_teacher_nme, min_presence=min_presence)
    stem = Path(faces.path).stem
    nme = result["teacher_nme_on_labels"]
    console.print(f"wrote {out / f'{stem}.{sch.name}.txt'} ({len(faces)} faces, {sch.num_points} points), "
                  f"{stem}.{sch.name}.json, {stem}.{sch.name}.png, {stem}.mesh468.npy")
    if nme:
        console.print(f"teacher on the labelled points: NME {nme['nme'] * 100:.2f} %, failure rate {nme['failure_rate'] * 100:.2f} %")
    if "clean_list" in result:
        console.print(f"wrote {out / result['clean_list']['file']}: {result['clean_list']['faces']} faces "
                      f"({result['clean_list']['rule']})")
    if "ear" in result:
        ear = result["ear"]
        console.print(f"eye aspect ratio < 0.2: {ear['share_below_0.2'][0] * 100:.1f} % / {ear['share_below_0.2'][1] * 100:.1f} % "
                      f"(image-left / right eye); left-right correlation {ear['left_right_correlation']:.2f}")
    t = result["timing"]
    console.print(f"teacher: {t['faces_taught_now']} faces now, {t['faces_from_cache']} from earlier chunks, {t['seconds']:.1f} s")
