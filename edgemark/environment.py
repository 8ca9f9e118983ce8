"""What machine a figure was measured on: CPU model, cores, OS, Python."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_summary() -> dict:
    return {"cpu": cpu_model(), "machine": platform.machine(), "cores": os.cpu_count(),
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version()}


def machine_line() -> str:
    m = machine_summary()
    return f"{m['cpu']} ({m['machine']}, {m['cores']} cores), {m['os']}, Python {m['python']}"
