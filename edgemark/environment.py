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
    summary = {"cpu": cpu_model(), "machine": platform.machine(), "cores": os.cpu_count(), "board": board_model(),
               "os": f"{platform.system()} {platform.release()}", "distribution": os_name(), "python": platform.python_version(),
               "host": platform.node()}
    gpus = gpu_facts()
    if gpus:  # NVIDIA GPUs only: name, driver, clocks, memory
        summary["gpus"] = gpus
    return summary


GPU_QUERY = ("index", "name", "driver_version", "memory.total", "clocks.sm", "clocks.max.sm", "clocks.mem", "clocks.max.mem",
             "power.limit", "temperature.gpu", "pstate")


def gpu_facts() -> list[dict] | None:
    """Each NVIDIA GPU's name, driver, memory and clocks (MHz; current and maximum) from
    nvidia-smi, or None where there is none (no driver, or not an NVIDIA machine)."""
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return None
    try:
        done = subprocess.run(["nvidia-smi", f"--query-gpu={','.join(GPU_QUERY)}", "--format=csv,noheader,nounits"],
                              capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    gpus = []
    for line in done.stdout.strip().splitlines():
        values = [v.strip() for v in line.split(",")]
        if len(values) == len(GPU_QUERY):
            gpus.append({k.replace(".", "_"): _number(v) for k, v in zip(GPU_QUERY, values)})
    return gpus or None


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None if text in ("[N/A]", "N/A", "[Not Supported]") else text


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
