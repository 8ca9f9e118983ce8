"""Profiles side by side: per kind of layer and per layer, one column per artifact (median ms
per run and share of that artifact's operator total), as a rich table, Markdown and JSON."""

from __future__ import annotations

from pathlib import Path

from ..errors import EdgemarkError
from ..io import write_json_atomic, write_text_atomic
from .layers import layer_sort_key


def _measured(profiles: list[dict]) -> list[dict]:
    return [p for p in profiles if "unsupported" not in p]


def _cell(row: dict | None) -> str:
    return "-" if row is None else f"{row['ms']:.3f} {row['share'] * 100:4.1f}%"


def kind_rows(profiles: list[dict]) -> list[tuple[str, list]]:
    """(kind, [that kind's total in each measured profile or None]), the largest first."""
    measured = _measured(profiles)
    kinds = {}
    for p in measured:
        for k in p["kinds"]:
            kinds[k["kind"]] = max(kinds.get(k["kind"], 0.0), k["share"])
    order = sorted(kinds, key=lambda k: -kinds[k])
    return [(k, [next((r for r in p["kinds"] if r["kind"] == k), None) for p in measured]) for k in order]


def _mapped(profiles: list[dict]) -> list[dict]:
    """Measured profiles whose operators map to the model's layers (not ExecuTorch's XNNPACK kernels)."""
    return [p for p in _measured(profiles) if p.get("layers") is not None]


def layer_rows(profiles: list[dict]) -> list[tuple[str, str, list]]:
    """(layer, kind, [the layer in each profile of _mapped(profiles) or None]) in model order."""
    measured = _mapped(profiles)
    layers, kinds = set(), {}
    for p in measured:
        for r in p["layers"]:
            layers.add(r["layer"])
            kinds.setdefault(r["layer"], r["kind"])
    return [(layer, kinds[layer], [next((r for r in p["layers"] if r["layer"] == layer), None) for p in measured])
            for layer in sorted(layers, key=layer_sort_key)]


def _header(p: dict) -> str:
    if p["artifact"] == f"{p['format']}-{p['precision']}":
        return p["artifact"]
    return f"{p['artifact']} ({p['format']}{' ' + p['precision'] if p['precision'] else ''})"


def summary_lines(profiles: list[dict]) -> list[str]:
    """One sentence per measured artifact: what its time goes to, and the runtime's own run time."""
    lines = []
    for p in _measured(profiles):
        top = ", ".join(f"{k['kind']} {k['share'] * 100:.0f} %" for k in p["kinds"][:3])
        lines.append(f"{p['artifact']}: {p['total_ms']:.3f} ms in {len(p['ops'])} operators ({p['runtime']}; a whole run "
                     f"{p['run_ms']:.3f} ms): {top}" + ("" if p.get("layers") is not None else
                                                         " (operators named by kernel, not by layer: per kind only)"))
    return lines


def rich_tables(profiles: list[dict], by: str = "layer") -> list:
    from rich.markup import escape
    from rich.table import Table

    measured = _measured(profiles)
    tables = []
    if measured:
        kinds = Table(title="per kind of layer: median ms per run and share of the artifact's operator total")
        kinds.add_column("kind", no_wrap=True)
        for p in measured:
            kinds.add_column(escape(p["artifact"]), justify="right", no_wrap=True)
        for kind, cells in kind_rows(profiles):
            kinds.add_row(escape(kind), *(_cell(c) for c in cells))
        kinds.add_row("[bold]total[/]", *(f"[bold]{p['total_ms']:.3f}[/]" for p in measured))
        tables.append(kinds)
    mapped = _mapped(profiles)
    if mapped and by == "layer":
        layers = Table(title="per layer: ms and share (a conv with its batch norm and activation is one layer)")
        layers.add_column("layer", no_wrap=True, min_width=17)
        layers.add_column("kind", no_wrap=True)
        for p in mapped:
            layers.add_column(escape(p["artifact"]), justify="right", no_wrap=True)
        for layer, kind, cells in layer_rows(profiles):
            layers.add_row(escape(layer), escape(kind), *(_cell(c) for c in cells))
        tables.append(layers)
    if measured and by == "op":
        for p in measured:
            ops = Table(title=escape(f"{p['artifact']}: every operator, in the runtime's order ({p['runtime']})"))
            for col in ("operator", "type", "layer", "kind", "ms", "share %", "kernel / provider"):
                ops.add_column(col, justify="right" if col in ("ms", "share %") else "left", overflow="fold")
            for op in p["ops"]:
                ops.add_row(escape(op["name"]), escape(op["op"]), escape(op["layer"]), escape(op["kind"]), f"{op['ms']:.4f}",
                            f"{op['share'] * 100:.1f}", escape(op["where"]))
            tables.append(ops)
    return tables


def markdown(profiles: list[dict], machine: str, command: str) -> str:
    measured = _measured(profiles)
    lines = ["# Per-operator profile", "", f"Command: `{command}`", "", f"Machine: {machine}.", ""]
    if measured:
        p0 = measured[0]
        litert = any(p["runtime"].startswith("LiteRT") for p in measured)
        lines += [f"Method: each runtime's own profiler on one 1-image batch (seeded noise pixels"
                  f"{'; LiteRT: zeros' if litert else ''}), {p0['warmup']} warm-up runs, "
                  f"then the median of {p0['runs']} runs per operator{' (LiteRT: the mean its profile summary gives)' if litert else ''}, "
                  f"{p0['threads']} thread(s). Shares are of the sum of the "
                  "operators' times; a whole run (the runtime's own timer) adds its scheduling and copies. A layer is the model's "
                  "module (a conv with its batch norm and activation is one); `(runtime)` holds operators a runtime adds (layout "
                  "changes, input quantization). A runtime that fuses a residual addition into the convolution before it has "
                  "no add row.", ""]
        lines += [f"- {line}" for line in summary_lines(profiles)] + [""]
        lines += ["## Per kind of layer", "", "Median ms per run (share of the artifact's operator total).", "",
                  "| kind | " + " | ".join(_header(p) for p in measured) + " |", "|---|" + "---:|" * len(measured)]
        for kind, cells in kind_rows(profiles):
            lines.append(f"| {kind} | " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("| **total** | " + " | ".join(f"**{p['total_ms']:.3f}**" for p in measured) + " |")
        mapped = _mapped(profiles)
        lines += ["", "## Per layer", ""]
        lines += [f"{p['artifact']}: {p['runtime']} names its operators by kernel, not by layer: per kind only (every operator is in "
                  "profile.json)." for p in measured if p not in mapped]
        if mapped:
            lines += ["", "| layer | kind | " + " | ".join(_header(p) for p in mapped) + " |", "|---|---|" + "---:|" * len(mapped)]
            for layer, kind, cells in layer_rows(profiles):
                lines.append(f"| {layer} | {kind} | " + " | ".join(_cell(c) for c in cells) + " |")
    unsupported = [p for p in profiles if "unsupported" in p]
    if unsupported:
        lines += ["", "## Not profiled", ""] + [f"- {p['artifact']}: {p['unsupported']}" for p in unsupported]
    return "\n".join(lines) + "\n"


def check_profiles(data, source: str) -> None:
    """A profile.json from elsewhere (a device) has the shape the tables read, or a named error."""
    def fail(what: str):
        raise EdgemarkError(f"{source}: not a profile ({what})")

    if not isinstance(data, dict) or not isinstance(data.get("machine"), dict) or not isinstance(data.get("profiles"), list):
        fail("want an object with 'machine' and a list of 'profiles'")
    number = (int, float)
    for i, p in enumerate(data["profiles"]):
        if not isinstance(p, dict) or not isinstance(p.get("artifact"), str):
            fail(f"profiles[{i}] has no artifact name")
        if "unsupported" in p:
            if not isinstance(p["unsupported"], str):
                fail(f"profiles[{i}].unsupported is not text")
            continue
        if not (isinstance(p.get("runtime"), str) and isinstance(p.get("total_ms"), number) and isinstance(p.get("run_ms"), number)
                and isinstance(p.get("runs"), int) and isinstance(p.get("warmup"), int) and isinstance(p.get("threads"), int)):
            fail(f"profiles[{i}] lacks runtime, total_ms, run_ms, runs, warmup or threads")
        for key, fields in (("ops", ("name", "op", "layer", "kind", "where")), ("kinds", ("kind",)), ("layers", ("layer", "kind"))):
            rows = p.get(key)
            if key == "layers" and rows is None:
                continue
            if not isinstance(rows, list) or not all(isinstance(r, dict) and all(isinstance(r.get(f), str) for f in fields)
                                                     and isinstance(r.get("ms"), number) and isinstance(r.get("share"), number)
                                                     for r in rows):
                fail(f"profiles[{i}].{key} is not a list of rows with {', '.join(fields)}, ms and share")


def write_profile(profiles: list[dict], out_dir: Path, machine: dict, command: str) -> list[Path]:
    """profile.json (every operator of every artifact) and profile.md in ``out_dir``, atomically."""
    out_dir = Path(out_dir)
    label = f"{machine.get('board') or machine.get('cpu')} ({machine.get('machine')}, {machine.get('cores')} cores)"
    write_json_atomic(out_dir / "profile.json", {"command": command, "machine": machine, "profiles": profiles})
    write_text_atomic(out_dir / "profile.md", markdown(profiles, label, command))
    return [out_dir / "profile.json", out_dir / "profile.md"]
