"""The regression gate: a benchmark run compared row by row with an older one (its baseline)
on the same machine. A row fails when it is slower than the baseline by more than the noise
the two runs measured plus a threshold, when its accuracy drop grew by more than a threshold,
or when the baseline measured it and this run did not."""

from __future__ import annotations

from pathlib import Path

from ..errors import EdgemarkError
from ..io import write_json_atomic, write_text_atomic

MACHINE_FACTS = ("cpu", "machine", "cores", "board")  # results["machine"] keys that must match (host, OS, versions may differ)
DEFAULT_MAX_SLOWDOWN = 0.10  # 10 % of the baseline's p50, beyond the measured noise
DEFAULT_MAX_DROP = 0.10  # percentage points of NME drop


def _facts(results: dict) -> dict:
    facts = {f"machine.{k}": results["machine"].get(k) for k in MACHINE_FACTS}
    facts["device"] = results.get("device")
    return facts


def _refuse_other_machine(a: dict, b: dict, new_source, old_source) -> None:
    differ = [k for k in a if a[k] != b[k]]
    if differ:
        raise EdgemarkError(f"{old_source} is not a baseline for {new_source}: measured on another machine ("
                            + "; ".join(f"{k}: {b[k]!r} there, {a[k]!r} here" for k in differ)
                            + "); benchmark the baseline on this machine (the same runner type in CI)")


def check_this_machine(old: dict, machine: dict, old_source) -> None:
    """Before a local run: refuse a baseline measured on another machine (``machine`` is
    environment.machine_summary() of this one), so no benchmark time is spent for nothing."""
    _refuse_other_machine({f"machine.{k}": machine.get(k) for k in MACHINE_FACTS},
                          {f"machine.{k}": old["machine"].get(k) for k in MACHINE_FACTS}, "this machine", old_source)


def check_comparable(new: dict, old: dict, new_source, old_source) -> None:
    """A named refusal unless both runs are from the same kind of machine and, where both
    measured accuracy, over the same test faces."""
    _refuse_other_machine(_facts(new), _facts(old), new_source, old_source)
    if any(r.get("nme") is not None for r in old["rows"]) and any(r.get("nme") is not None for r in new["rows"]) \
            and old.get("accuracy_list") != new.get("accuracy_list"):
        raise EdgemarkError(f"{old_source} is not a baseline for {new_source}: its NME is over other test faces "
                            f"({old.get('accuracy_list')!r} there, {new.get('accuracy_list')!r} here); use the same --data and "
                            "--accuracy-faces")


def _spread(row: dict) -> float:
    """The range of the row's p50 over its --rounds (0 for a single round: no noise measured)."""
    rounds = row.get("p50_rounds_ms")
    return max(rounds) - min(rounds) if rounds and len(rounds) > 1 else 0.0


def _key(row: dict, pipeline: bool) -> tuple:
    if pipeline:
        return ("pipeline", row["detector"] + (", tracked" if row.get("tracked") else ""), row.get("artifact") or "(detector alone)",
                row["threads"], 1)
    return ("model", "", row["artifact"], row["threads"], row["batch"])


def _label(key: tuple) -> str:
    kind, detector, artifact, _, _ = key
    return f"{detector} + {artifact}" if kind == "pipeline" else artifact


def _rows(results: dict) -> dict:
    rows = {_key(r, False): r for r in results["rows"]}
    rows.update({_key(r, True): r for r in results.get("pipeline_rows") or []})
    return rows


def compare_to_baseline(new: dict, old: dict, max_slowdown: float = DEFAULT_MAX_SLOWDOWN, max_drop: float = DEFAULT_MAX_DROP,
                        new_source="this run", old_source="the baseline") -> dict:
    """Every row of ``old`` (a results.json's contents) against the same (artifact, threads,
    batch) row of ``new``. A row is slower when its p50 exceeds the baseline's by more than
    ``max_slowdown`` (a fraction of the baseline's p50) plus the noise: half the sum of the two
    rows' p50 ranges over their --rounds. Its accuracy regressed when its NME drop (pp) grew by
    more than ``max_drop``. Returns {"rows": [...], "regressions": [...], "new_rows": [...]}."""
    if not (max_slowdown >= 0 and max_drop >= 0):
        raise EdgemarkError(f"--max-slowdown and --max-drop must be >= 0 (got {max_slowdown}, {max_drop})")
    check_comparable(new, old, new_source, old_source)
    new_rows, old_rows = _rows(new), _rows(old)
    if not set(new_rows) & set(old_rows):
        raise EdgemarkError(f"{old_source} and {new_source} share no (artifact, threads, batch) row: nothing to compare "
                            "(benchmark with the same --target, --precision, --threads and --batch)")
    skipped = {(s["artifact"], s["threads"], s["batch"]): s["reason"] for s in new["skipped"]}
    rows = []
    for key, o in old_rows.items():
        kind, _, artifact, threads, batch = key
        row = {"kind": kind, "artifact": _label(key), "threads": threads, "batch": batch, "old_p50_ms": o["p50_ms"],
               "new_p50_ms": None, "ratio": None, "noise_ms": None, "limit_ms": None, "old_drop_pp": o.get("nme_drop_pp"),
               "new_drop_pp": None, "problems": []}
        n = new_rows.get(key)
        if n is None:
            reason = skipped.get((artifact, threads, batch))
            row["problems"].append("not measured in this run" + (f" ({reason})" if reason else ""))
            rows.append(row)
            continue
        noise = (_spread(o) + _spread(n)) / 2
        limit = o["p50_ms"] * (1 + max_slowdown) + noise
        row.update(new_p50_ms=n["p50_ms"], ratio=n["p50_ms"] / o["p50_ms"], noise_ms=noise, limit_ms=limit,
                   new_drop_pp=n.get("nme_drop_pp"))
        if n["p50_ms"] > limit:
            row["problems"].append(f"slower: p50 {n['p50_ms']:.3f} ms > {limit:.3f} ms (baseline {o['p50_ms']:.3f} ms "
                                   f"+ {max_slowdown * 100:g} % + noise {noise:.3f} ms)")
        if kind == "model" and o.get("nme_drop_pp") is not None:
            if n.get("nme_drop_pp") is None:
                row["problems"].append("accuracy not measured in this run (the baseline measured it)")
            elif n["nme_drop_pp"] - o["nme_drop_pp"] > max_drop:
                row["problems"].append(f"accuracy: NME drop {n['nme_drop_pp']:+.2f} pp, was {o['nme_drop_pp']:+.2f} pp "
                                       f"(grew by more than {max_drop:g} pp)")
        rows.append(row)
    return {"baseline": str(old_source), "results": str(new_source), "max_slowdown": max_slowdown, "max_drop_pp": max_drop,
            "noise": "half the sum of the two rows' p50 ranges over their --rounds (0 for single-round runs)",
            "rows": rows, "regressions": [r for r in rows if r["problems"]],
            "new_rows": [_label(k) + f" threads={k[3]} batch={k[4]}" for k in new_rows if k not in old_rows]}


def _num(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def gate_markdown(gate: dict) -> str:
    lines = [f"# Regression gate against {gate['baseline']}", "",
             f"A row fails when its p50 exceeds the baseline's by more than {gate['max_slowdown'] * 100:g} % plus the noise "
             f"({gate['noise']}), when its NME drop grew by more than {gate['max_drop_pp']:g} pp, or when it was not measured.", "",
             f"**{len(gate['regressions'])} regression(s)** in {len(gate['rows'])} baseline row(s).", "",
             "| artifact | threads | batch | baseline p50 ms | p50 ms | ratio | noise ms | limit ms | baseline drop pp | drop pp | verdict |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in gate["rows"]:
        lines.append(f"| {r['artifact']} | {r['threads']} | {r['batch']} | {r['old_p50_ms']:.3f} | {_num(r['new_p50_ms'], '.3f')} | "
                     f"{_num(r['ratio'], '.2f')} | {_num(r['noise_ms'], '.3f')} | {_num(r['limit_ms'], '.3f')} | "
                     f"{_num(r['old_drop_pp'], '+.2f')} | {_num(r['new_drop_pp'], '+.2f')} | {'; '.join(r['problems']) or 'ok'} |")
    if gate["new_rows"]:
        lines += ["", "Not in the baseline (not gated): " + ", ".join(gate["new_rows"])]
    return "\n".join(lines) + "\n"


def gate_table(gate: dict):
    """The regressions as a rich table for the terminal (gate.md has every row and the full reasons)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(f"regressions against {gate['baseline']}"),
                  caption=f"limit = baseline p50 + {gate['max_slowdown'] * 100:g} % + the noise of the two runs (their --rounds spreads)")
    table.add_column("artifact", no_wrap=True)
    for col in ("thr/bat", "base ms", "p50 ms", "limit ms", "base pp", "drop pp", "problem"):
        table.add_column(col, justify="left" if col == "problem" else "right", no_wrap=True)
    for r in gate["regressions"]:
        table.add_row(escape(r["artifact"]), f"{r['threads']}/{r['batch']}", f"{r['old_p50_ms']:.3f}", _num(r["new_p50_ms"], ".3f"),
                      _num(r["limit_ms"], ".3f"), _num(r["old_drop_pp"], "+.2f"), _num(r["new_drop_pp"], "+.2f"),
                      escape(",".join(p.split(":")[0].split(" (")[0].replace(" in this run", "") for p in r["problems"])))
    return table


def write_gate(gate: dict, out_dir: Path) -> list[Path]:
    """gate.json and gate.md in ``out_dir``, atomically."""
    out_dir = Path(out_dir)
    write_json_atomic(out_dir / "gate.json", gate)
    write_text_atomic(out_dir / "gate.md", gate_markdown(gate))
    return [out_dir / "gate.json", out_dir / "gate.md"]
