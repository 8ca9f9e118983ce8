"""What machine a figure was measured on: CPU model, cores, OS, Python."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    """x86 'model name'; on ARM boards /proc/cpuinfo has 'Model' or 'Hardware' instead."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    for key in ("model name", "Model", "Hardware", "cpu model"):
        if fields.get(key):
            return fields[key]
    return platform.processor() or platform.machine()


def board_model() -> str | None:
    """The board's name from the device tree (a Raspberry Pi says 'Raspberry Pi 5 Model B Rev 1.0')."""
    model = _read("/proc/device-tree/model")
    return model.rstrip("\x00") if model else None


def os_name() -> str:
    for line in (_read("/etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return f"{platform.system()} {platform.release()}"


def machine_summary() -> dict:
    return {"cpu": cpu_model(), "machine": platform.machine(), "cores": os.cpu_count(), "board": board_model(),
            "os": f"{platform.system()} {platform.release()}", "distribution": os_name(), "python": platform.python_version(),
            "host": platform.node()}


def machine_line() -> str:
    m = machine_summary()
    return f"{m['cpu']} ({m['machine']}, {m['cores']} cores), {m['os']}, Python {m['python']}"


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def throttle_state() -> dict:
    """CPU frequency, temperatures and the Raspberry Pi throttle flags, where readable."""
    import glob
    import shutil
    import subprocess

    state: dict = {}
    cur, top = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq"), _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if cur and top:
        state["cpu0_mhz"], state["cpu0_max_mhz"] = int(cur) / 1000, int(top) / 1000
        state["frequency_throttled"] = int(cur) < 0.9 * int(top)
    governor = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    if governor:
        state["governor"] = governor
    temps = {}
    for zone in sorted(glob.glob("/sys/class/thermal/thermal_zone*")):
        t = _read(f"{zone}/temp")
        if t and t.lstrip("-").isdigit():
            temps[_read(f"{zone}/type") or zone] = int(t) / 1000
    if temps:
        state["temperatures_c"] = temps
    if shutil.which("vcgencmd"):
        try:
            state["vcgencmd_get_throttled"] = subprocess.run(["vcgencmd", "get_throttled"], capture_output=True, text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    if not state:
        state["note"] = "no cpufreq, thermal or vcgencmd information readable on this machine (virtual machine?)"
    return state
