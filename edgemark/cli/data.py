"""edgemark data: stats, show, download."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import EdgemarkError
from .common import DataOption, ImagesOption, ListOption, console, data_app, open_list, progress_bar


# the list layout and landmark scheme, shared by stats and show
FormatOption = typer.Option("cuhk", "--format", help="List layout: cuhk, mtfl or wflw.")
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
