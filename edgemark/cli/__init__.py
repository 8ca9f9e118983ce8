"""The ``edgemark`` command line (Typer + rich), one module per command group. Each command
is a thin shell over a module that does the work; errors a user can act on print as one
line, no traceback."""

from __future__ import annotations

import sys

from rich.markup import escape

from ..errors import EdgemarkError
from . import training, data, export, bench, profile, device, demo, models  # noqa: F401  (each registers its commands on app, in help order)
from .common import app, err_console


def main() -> None:
    try:
        app()
    except EdgemarkError as e:
        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/] (a training run continues with --resume; a benchmark keeps what it "
                          "measured, marked incomplete)")
        sys.exit(130)


if __name__ == "__main__":
    main()
