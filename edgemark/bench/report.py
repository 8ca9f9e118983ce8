"""Benchmark outputs: CSV, Markdown, the Pareto plot (latency vs NME) and a latency bar
chart; and the side-by-side comparison of two result files."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..errors import EdgemarkError  # noqa: E402
from ..io import atomic_path, write_text_atomic  # noqa: E402
from ..plots import FIGURE_LOCK  # noqa: E402
from .budget_check import budget_lines  # noqa: E402

COLUMNS = ["artifact", "threads", "batch", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "throughput_ips", "load_ms",
           "first_inference_ms", "peak_rss_mib", "rss_increase_mib", "size_bytes", "nme", "failure_rate", "auc", "nme_drop_pp",
           "provider", "runs", "pinned_cores", "jitter_iod", "ear_jitter", "clip_jitter_iod", "clip_ear_jitter"]


MAX_THREADS, MAX_BATCH = 4096, 1_000_000
LIMIT = 1e12  # no real latency (ms), memory (MiB), size or rate comes near: keeps plots and ratios finite


def _plain(text) -> str:
    """Text for a figure: ``$`` would start matplotlib's math mode on any string read back."""
    return str(text).replace("$", r"\$")


def _fail(source, where: str, message: str):
    raise EdgemarkError(f"{source}: {where}: {message} (not a result edgemark bench wrote; re-run the benchmark or fix the file)")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v) and abs(v) <= LIMIT


def plain_name(v) -> bool:
    """A file or folder name, not a path: no separator, not . or .., printable, not too long."""
    return (isinstance(v, str) and 0 < len(v) <= 200 and v not in (".", "..") and "/" not in v and "\\" not in v
            and v.isprintable())


class _Checker:
    """Checks one results.json against what edgemark bench writes; every error names the file
    and the place (``rows[3].threads``)."""

    def __init__(self, source):
        self.source = source

    def dict(self, parent: dict, key: str, where: str, optional: bool = False):
        v = parent.get(key)
        if v is None and optional:
            return {}
        if not isinstance(v, dict):
            _fail(self.source, where + key, "missing" if key not in parent else f"expected an object, got {_kind(v)}")
        return v

    def list(self, parent: dict, key: str, where: str, optional: bool = False):
        v = parent.get(key)
        if v is None and optional:
            return []
        if not isinstance(v, list):
            _fail(self.source, where + key, "missing" if key not in parent else f"expected a list, got {_kind(v)}")
        return v

    def str(self, parent: dict, key: str, where: str, optional: bool = False) -> None:
        v = parent.get(key)
        if not (isinstance(v, str) or (optional and v is None)):
            _fail(self.source, where + key, "missing" if key not in parent else f"expected text, got {_kind(v)}")

    def int(self, parent: dict, key: str, where: str, lo: int, hi: int | None = None, optional: bool = False) -> None:
        v = parent.get(key)
        if optional and v is None:
            return
        if not (_is_int(v) and v >= lo and (hi is None or v <= hi)):
            wanted = f"an integer {lo}..{hi}" if hi is not None else f"an integer >= {lo}"
            _fail(self.source, where + key, "missing" if key not in parent else f"expected {wanted}, got {_show(v)}")

    def num(self, parent: dict, key: str, where: str, lo: float = -LIMIT, positive: bool = False, optional: bool = False) -> None:
        v = parent.get(key)
        if optional and v is None:
            return
        if not (_is_num(v) and v >= lo and (v > 0 or not positive)):
            wanted = "a positive number" if positive else f"a finite number >= {lo:g}"
            _fail(self.source, where + key, "missing" if key not in parent else f"expected {wanted}, got {_show(v)}")

    def rounds(self, row: dict, where: str) -> None:
        """The optional per-round p50s of a --rounds run: a non-empty list of positive numbers."""
        values = self.list(row, "p50_rounds_ms", where, optional=True)
        if "p50_rounds_ms" in row and not values:
            _fail(self.source, where + "p50_rounds_ms", "expected a non-empty list")
        for j in range(len(values)):
            if not (_is_num(values[j]) and values[j] > 0):
                _fail(self.source, f"{where}p50_rounds_ms[{j}]", f"expected a positive number, got {_show(values[j])}")

    def timestamp(self, parent: dict, key: str, where: str) -> None:
        """An ISO 8601 date and time, as datetime.isoformat writes it."""
        from datetime import datetime

        v = parent.get(key)
        try:
            datetime.fromisoformat(v)
        except (TypeError, ValueError):
            _fail(self.source, where + key, f"expected an ISO date and time (2026-01-31T12:00:00+00:00), got {_show(v)}")

    def cores(self, parent: dict, key: str, where: str) -> None:
        """An optional list of core numbers."""
        values = self.list(parent, key, where, optional=True)
        for j in range(len(values)):
            if not (_is_int(values[j]) and 0 <= values[j] <= 1 << 20):
                _fail(self.source, f"{where}{key}[{j}]", f"expected a core number, got {_show(values[j])}")

    def name(self, parent: dict, key: str, where: str, optional: bool = False) -> None:
        v = parent.get(key)
        if not (plain_name(v) or (optional and v is None)):
            _fail(self.source, where + key, "missing" if key not in parent else f"expected a plain name (no / or ..), got {_show(v)}")


def _kind(v) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(type(v), "a number")


def _show(v) -> str:
    text = json.dumps(v) if not isinstance(v, float) else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


TIMES = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "throughput_ips")


def validate_results(results, source) -> dict:
    """``results`` if it has every value the reports, plots and file names use, of the right
    type and range (threads and batch positive integers, artifact names plain names, times
    finite); else an EdgemarkError naming ``source`` and the value."""
    check = _Checker(source)
    if not isinstance(results, dict):
        _fail(source, "top level", f"expected an object, got {_kind(results)}")
    for key in ("command", "started", "device", "finished", "accuracy_list"):
        check.str(results, key, "", optional=key not in ("command", "started"))
    check.timestamp(results, "started", "")  # a result folder is named after its date
    if "throttle_before" not in results:
        _fail(source, "throttle_before", "missing")
    machine = check.dict(results, "machine", "")
    for key in ("cpu", "machine", "os", "python"):
        check.str(machine, key, "machine.")
    for key in ("board", "distribution", "host"):
        check.str(machine, key, "machine.", optional=True)
    check.int(machine, "cores", "machine.", 1, optional=True)
    versions = check.dict(results, "versions", "")
    for key in versions:
        check.str(versions, key, "versions.")
    settings = check.dict(results, "settings", "")
    check.str(settings, "latency", "settings.")
    check.int(settings, "warmup", "settings.", 0)
    check.int(settings, "min_runs", "settings.", 0)
    check.num(settings, "min_seconds", "settings.", 0)
    check.int(settings, "rounds", "settings.", 1, optional=True)
    check.cores(settings, "cores", "settings.")
    reference = check.dict(results, "accuracy_reference", "", optional=True)
    if reference:
        check.num(reference, "nme", "accuracy_reference.", 0)
        check.str(reference, "where", "accuracy_reference.")
    for i, row in enumerate(check.list(results, "rows", "")):
        where = f"rows[{i}]."
        if not isinstance(row, dict):
            _fail(source, where[:-1], f"expected an object, got {_kind(row)}")
        check.name(row, "artifact", where)
        check.int(row, "threads", where, 1, MAX_THREADS)
        check.int(row, "batch", where, 1, MAX_BATCH)
        for key in ("format", "precision", "provider"):
            check.str(row, key, where)
        check.num(row, "p50_ms", where, positive=True)
        check.rounds(row, where)
        for key in TIMES[1:] + ("load_ms", "first_inference_ms", "peak_rss_mib", "rss_increase_mib"):
            check.num(row, key, where)
        check.num(row, "size_bytes", where, 0)
        check.cores(row, "pinned_cores", where)
        check.num(row, "nme", where, 0, optional=True)
        for key in ("failure_rate", "auc", "nme_drop_pp"):
            check.num(row, key, where, optional=True)
    for i, skip in enumerate(check.list(results, "skipped", "")):
        where = f"skipped[{i}]."
        if not isinstance(skip, dict):
            _fail(source, where[:-1], f"expected an object, got {_kind(skip)}")
        check.str(skip, "artifact", where)
        check.str(skip, "reason", where)
        check.int(skip, "threads", where, 1)
        check.int(skip, "batch", where, 1)
    pipeline = check.list(results, "pipeline_rows", "", optional=True)
    if pipeline:
        ps = check.dict(results, "pipeline_settings", "")
        check.str(ps, "frame", "pipeline_settings.")
        check.str(ps, "latency", "pipeline_settings.")
    for i, row in enumerate(pipeline):
        where = f"pipeline_rows[{i}]."
        if not isinstance(row, dict):
            _fail(source, where[:-1], f"expected an object, got {_kind(row)}")
        check.str(row, "detector", where)
        check.str(row, "frame", where, optional=True)
        check.name(row, "artifact", where, optional=True)
        check.int(row, "threads", where, 1, MAX_THREADS)
        check.int(row, "refine", where, 0, optional=True)
        check.int(row, "faces_found", where, 0)
        for key in TIMES + ("rss_increase_mib",):
            check.num(row, key, where)
        check.rounds(row, where)
    return results


def _f(v, spec):
    return "n/a" if v is None else format(v, spec)


def _pct(v):
    return "n/a" if v is None else f"{v * 100:.2f}"


def write_csv(results: dict, path: Path) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(results["rows"])
    write_text_atomic(path, buf.getvalue())


def jitter_lines(results: dict) -> list[str]:
    """The jitter table (edgemark/bench/jitter.py), when the run measured it: steadiness beside accuracy."""
    rows = [r for r in results["rows"] if r.get("jitter_iod") is not None or r.get("clip_jitter_iod") is not None]
    if not rows:
        return []
    settings = results.get("jitter_settings") or {}
    lines = ["", f"Jitter: {settings.get('method', 'frame-to-frame move of the landmarks on a still face')}.", "",
             "| artifact | threads | batch | jitter % IOD | EAR jitter | clip jitter % IOD | clip EAR jitter |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        pct = lambda v: _f(None if v is None else v * 100, ".2f")  # noqa: E731
        lines.append(f"| {r['artifact']} | {r['threads']} | {r['batch']} | {pct(r.get('jitter_iod'))} | {_f(r.get('ear_jitter'), '.4f')} | "
                     f"{pct(r.get('clip_jitter_iod'))} | {_f(r.get('clip_ear_jitter'), '.4f')} |")
    return lines


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [f"# Benchmark: {results.get('device') or 'unknown device'} on {m['cpu']}", "",
             f"Command: `{results['command']}`", "",
             f"Machine: {m['cpu']} ({m['machine']}, {m.get('cores')} cores), {m['os']}, Python {m['python']}. "
             f"Started {results['started']}, finished {results.get('finished', 'n/a')}.", "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()), "",
             f"Throttling before: `{json.dumps(results['throttle_before'])}`; after: `{json.dumps(results.get('throttle_after', {}))}`", "",
             f"Method: {results['settings']['latency']}; each artifact x threads x batch in a fresh process; warm-up "
             f"{results['settings']['warmup']} calls, then at least {results['settings']['min_runs']} calls and "
             f"{results['settings']['min_seconds']} s; {pin_sentence(results)}; "
             f"Intel AMX: {results['settings'].get('amx', 'not recorded')}. {_rounds_sentence(results['settings'].get('rounds', 1))}"
             f"RSS increase = peak RSS minus the bare interpreter's. Accuracy on {results.get('accuracy_list') or 'no list (no --data)'}"
             f"{reference_sentence(results)}.", "",
             "| artifact | threads | batch | p50 ms | p90 ms | p99 ms | mean ± std ms | img/s | load ms | first ms | peak RSS MiB | +RSS MiB | size KiB | NME % | FR % | drop pp | runtime |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results["rows"]:
        lines.append(f"| {r['artifact']} | {r['threads']} | {r['batch']} | {r['p50_ms']:.3f}{_spread(r)} | {r['p90_ms']:.3f} | {r['p99_ms']:.3f} | "
                     f"{r['mean_ms']:.3f} ± {r['std_ms']:.3f} | {r['throughput_ips']:.0f} | {r['load_ms']:.0f} | {r['first_inference_ms']:.1f} | "
                     f"{r['peak_rss_mib']:.0f} | {r['rss_increase_mib']:.0f} | {r['size_bytes'] / 1024:.0f} | "
                     f"{_pct(r.get('nme'))} | {_pct(r.get('failure_rate'))} | "
                     f"{_f(r.get('nme_drop_pp'), '+.2f')} | {r['provider']} |")
    lines += jitter_lines(results)
    lines += budget_lines(results)
    lines += pin_lines(results)
    lines += summary_lines(results)
    lines += pipeline_lines(results)
    if incomplete(results):
        lines += ["", "**Incomplete run**: interrupted before every measurement was taken."]
    if results["skipped"]:
        lines += ["", "Not measured:", ""] + [f"- {s['artifact']} threads={s['threads']} batch={s['batch']}: {s['reason']}" for s in results["skipped"]]
    return "\n".join(lines) + "\n"


def _cores_text(cores) -> str:
    return ",".join(map(str, cores))


def pin_sentence(results: dict) -> str:
    """How the workers were pinned, as the Method line says it."""
    settings = results["settings"]
    if not settings.get("pinned"):
        return "runs not pinned to cores (--no-pin)"
    if settings.get("cores"):
        return f"each run pinned to as many cores as it has threads, taken in order from cores {_cores_text(settings['cores'])} (--cores)"
    return "each run pinned to as many cores as it has threads, the lowest-numbered first"


def pin_lines(results: dict) -> list[str]:
    """Rows whose threads outnumbered the cores they were pinned to: said, never hidden."""
    if not results["settings"].get("pinned"):
        return []
    short = [r for r in results["rows"] + (results.get("pipeline_rows") or [])
             if isinstance(r.get("pinned_cores"), list) and len(r["pinned_cores"]) < r["threads"]]
    if not short:
        return []
    lines = ["", "**Fewer cores than threads**: these runs had more threads than cores to pin to, so their threads shared cores:", ""]
    for r in short:
        name = r.get("artifact") or "(detector alone)"
        if r.get("detector"):
            name = f"{r['detector']} + {name}"
        lines.append(f"- {name} threads={r['threads']}" + (f" batch={r['batch']}" if "batch" in r else "")
                     + f": pinned to {len(r['pinned_cores'])} core(s) ({_cores_text(r['pinned_cores'])}), not {r['threads']}")
    return lines


def reference_sentence(results: dict) -> str:
    """What the NME drops are against."""
    reference = results.get("accuracy_reference")
    if reference:
        return f"; NME drops against {reference['where']} (NME {reference['nme'] * 100:.2f} %)"
    if results.get("accuracy_reference_unused"):
        return f"; no NME drops: {results['accuracy_reference_unused']}"
    return ""


def _rounds_sentence(rounds: int) -> str:
    """How a --rounds run picked its rows, for the Method line; empty for a single pass."""
    if rounds <= 1:
        return ""
    return (f"{rounds} rounds, the whole list measured in turn each round: every row is its round with the median p50, "
            "the p50 range over the rounds in brackets. ")


def _spread(row: dict) -> str:
    """' (lowest-highest)' p50 over the rounds, when there were several."""
    rounds = row.get("p50_rounds_ms")
    return f" ({min(rounds):.3f}-{max(rounds):.3f})" if rounds else ""


def pipeline_lines(results: dict) -> list[str]:
    """The pipeline table: per frame, each detector alone and with each artifact."""
    rows = results.get("pipeline_rows")
    if not rows:
        return []
    settings = results["pipeline_settings"]
    lines = ["", f"## Pipeline per {settings['frame']} frame (detection on every frame; tracked: between detections)", "",
             f"Method: {settings['latency']}; same warm-up, duration and pinning rules as above. A *tracked* frame is what the demo "
             "pays between detections: the crop from the last frame's landmarks (no detector), the landmarks and the tracker's "
             "plausibility check; the detector only seeds the track (re-detections while timed are counted).", "",
             "| detector | artifact | threads | refine | faces | p50 ms | p90 ms | p99 ms | mean ± std ms | frames/s | +RSS MiB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        refine = "" if r.get("refine") is None else r["refine"]
        detector = f"{r['detector']}, tracked" + (f" ({r['detector_runs_while_timed']} re-detections)" if r.get("detector_runs_while_timed")
                                                   else "") if r.get("tracked") else r["detector"]
        lines.append(f"| {detector} | {r.get('artifact') or '(detector alone)'} | {r['threads']} | {refine} | {r['faces_found']} | {r['p50_ms']:.3f}{_spread(r)} | "
                     f"{r['p90_ms']:.3f} | {r['p99_ms']:.3f} | {r['mean_ms']:.3f} ± {r['std_ms']:.3f} | {r['throughput_ips']:.0f} | "
                     f"{r['rss_increase_mib']:.0f} |")
    ratios = peer_pipeline_sentences(results)
    if ratios:
        lines += ["", "Our whole frame against the peer's pipeline (its detector and its landmark model, through the same "
                      "frame, crop and mapping code; same run):", ""] + ratios
    return lines


PIPELINE_CSV_COLUMNS = ["detector", "artifact", "tracked", "threads", "refine", "faces_found", "p50_ms", "p90_ms", "p99_ms", "mean_ms",
                        "std_ms", "throughput_ips", "rss_increase_mib", "detector_runs_while_timed", "peer", "peer_pipeline_p50_ms",
                        "peer_pipeline_ratio"]


def peer_pipeline_ratios(results: dict) -> list[dict]:
    """Our whole frame against a peer's whole frame, measured in the same run: per peer
    pipeline row (its detector + its landmark model), the fastest of our artifacts with the
    detector network (the peer's detector or our build of it: blazeface-int8, blazeface-fast, ...;
    ``edgemark.detect.detector_network``), thread count and kind (detection on every frame, or
    tracked), and the ratio peer p50 / ours (above 1: ours is faster)."""
    from ..detect import detector_network

    rows = results.get("pipeline_rows") or []
    out = []
    for peer in (r for r in rows if r.get("peer")):
        network = detector_network(peer["detector"])
        same = [r for r in rows if not r.get("peer") and r.get("artifact") and detector_network(r["detector"]) == network
                and r["threads"] == peer["threads"] and bool(r.get("tracked")) == bool(peer.get("tracked"))]
        same = [r for r in same if r["p50_ms"] > 0]  # a ratio needs a time (validate_results lets a 0 through)
        if same:
            ours = min(same, key=lambda r: r["p50_ms"])
            out.append({"peer": peer, "ours": ours, "ratio": peer["p50_ms"] / ours["p50_ms"]})
    return out


def peer_pipeline_sentences(results: dict) -> list[str]:
    """The ratios of ``peer_pipeline_ratios`` as bullets, for results.md, results.html and the terminal."""
    lines = []
    for c in peer_pipeline_ratios(results):
        peer, ours = c["peer"], c["ours"]
        kind = "tracked frame" if peer.get("tracked") else "whole frame, detection on every frame"
        lines.append(f"- {peer['threads']} thread(s), {kind}: ours ({ours['detector']} + {ours['artifact']}) p50 {ours['p50_ms']:.3f} ms, "
                     f"peer pipeline ({peer['detector']} + {peer['artifact']}) {peer['p50_ms']:.3f} ms: ours is "
                     f"**{c['ratio']:.2f}x** faster{_per_round_ratios(peer, ours)}.")
    return lines


def write_pipeline_csv(results: dict, path: Path) -> bool:
    """pipeline.csv: the per-frame rows, each with the peer pipeline's p50 beside it and the
    ratio (peer / this row) where the run measured a peer pipeline of the same kind."""
    rows = results.get("pipeline_rows") or []
    if not rows:
        return False
    from ..detect import detector_network

    peer_for = {}
    for c in peer_pipeline_ratios(results):
        p = c["peer"]
        peer_for[(detector_network(p["detector"]), p["threads"], bool(p.get("tracked")))] = p
    out = []
    for r in rows:
        detector = detector_network(r["detector"])  # our builds of the peer's detector compare with the peer too
        peer = None if r.get("peer") or not r.get("artifact") else peer_for.get((detector, r["threads"], bool(r.get("tracked"))))
        out.append({**r, "artifact": r.get("artifact") or "", "tracked": bool(r.get("tracked")), "peer": r.get("peer") or "",
                    "peer_pipeline_p50_ms": peer["p50_ms"] if peer else "",
                    "peer_pipeline_ratio": round(peer["p50_ms"] / r["p50_ms"], 4) if peer else ""})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=PIPELINE_CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(out)
    write_text_atomic(path, buf.getvalue())
    return True


def _per_round_ratios(slow: dict, fast: dict) -> str:
    """' (per round: 3.2x, 3.6x, 3.8x)': the ratio within each round of a --rounds run, where
    both rows were measured minutes apart at most; empty for a single pass."""
    a, b = slow.get("p50_rounds_ms"), fast.get("p50_rounds_ms")
    if not a or not b or len(a) != len(b):
        return ""
    return " (per round: " + ", ".join(f"{x / y:.1f}x" for x, y in zip(a, b)) + ")"


def summary_lines(results: dict, equal_pp: float = 0.1) -> list[str]:
    """The fastest artifact at equal accuracy, and int8's speedup over fp32 per runtime (batch 1)."""
    rows = [r for r in results["rows"] if r["batch"] == 1 and "peer" not in r]
    peers = [r for r in results["rows"] if "peer" in r]
    if not rows:
        return []
    lines = ["", "## Summary (batch 1)", ""]
    for t in sorted({r["threads"] for r in rows}):
        at = [r for r in rows if r["threads"] == t]
        for peer in (p for p in peers if p["threads"] == t):
            ours = min((r for r in at if r["precision"] == "int8"), key=lambda r: r["p50_ms"], default=None)
            if ours:
                lines.append(f"- {t} thread(s): peer {peer['artifact']} ({peer['peer']}): p50 {peer['p50_ms']:.3f} ms"
                             + (f", NME {peer['nme'] * 100:.2f} %" if peer.get("nme") is not None else "")
                             + f"; the fastest int8 artifact ({ours['artifact']}) is {peer['p50_ms'] / ours['p50_ms']:.1f}x faster"
                             + _per_round_ratios(peer, ours) + ".")
        equal = [r for r in at if r.get("nme") is not None and r.get("nme_drop_pp") is not None and r["nme_drop_pp"] <= equal_pp]
        if equal:
            best = min(equal, key=lambda r: r["p50_ms"])
            lines.append(f"- {t} thread(s): fastest at equal accuracy (NME within {equal_pp} pp of {_reference_name(results)}): "
                         f"**{best['artifact']}**, p50 {best['p50_ms']:.3f} ms, NME {best['nme'] * 100:.2f} %.")
        fastest = min(at, key=lambda r: r["p50_ms"])
        lines.append(f"- {t} thread(s): fastest overall: {fastest['artifact']}, p50 {fastest['p50_ms']:.3f} ms"
                     + (f", NME drop {fastest['nme_drop_pp']:+.2f} pp." if fastest.get("nme_drop_pp") is not None else "."))
        for fmt in ("onnx", "openvino", "tflite", "ncnn", "executorch"):
            fp32 = next((r for r in at if r["format"] == fmt and r["precision"] == "fp32"), None)
            int8 = next((r for r in at if r["format"] == fmt and r["precision"] == "int8"), None)
            if fp32 and int8:
                lines.append(f"  - {fmt}: int8 vs fp32 speedup {fp32['p50_ms'] / int8['p50_ms']:.2f}x "
                             f"({fp32['p50_ms']:.3f} -> {int8['p50_ms']:.3f} ms)")
    return lines


def _reference_name(results: dict) -> str:
    reference = results.get("accuracy_reference")
    if reference and "measured in this run" not in reference.get("where", ""):
        return reference["where"]
    return "torch fp32"


MARKERS = {"fp32": "o", "fp16": "s", "int8": "^"}


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def plot_pareto(results: dict, path: Path, threads: int, batch: int = 1) -> bool:
    rows = [r for r in results["rows"] if r["threads"] == threads and r["batch"] == batch and r.get("nme") is not None]
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=120)
    colors = {"torch": "grey", "onnx": "tab:blue", "openvino": "tab:purple", "tflite": "tab:orange", "ncnn": "tab:green",
              "executorch": "tab:red"}
    for r in rows:
        ax.scatter(r["p50_ms"], r["nme"] * 100, color=colors.get(r["format"], "k"), marker=MARKERS.get(r["precision"], "x"))
        ax.annotate(_plain(r["artifact"]), (r["p50_ms"], r["nme"] * 100), fontsize=7, xytext=(4, 2), textcoords="offset points")
    front = pareto_front(rows)
    ax.plot([r["p50_ms"] for r in front], [r["nme"] * 100 for r in front], "k--", lw=0.8, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel(f"p50 latency per image (ms, log), {threads} thread(s), batch {batch}")
    ax.set_ylabel("NME (% inter-ocular)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title(_plain(f"Latency vs accuracy on {results['machine']['cpu']}"), fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    return True


def plot_latency_bars(results: dict, path: Path, batch: int = 1) -> bool:
    rows = [r for r in results["rows"] if r["batch"] == batch]
    if not rows:
        return False
    artifacts = list(dict.fromkeys(r["artifact"] for r in rows))
    threads = sorted({r["threads"] for r in rows})
    fig, ax = plt.subplots(figsize=(8, 4), dpi=120)
    width = 0.8 / len(threads)
    for j, t in enumerate(threads):
        values = [next((r["p50_ms"] for r in rows if r["artifact"] == a and r["threads"] == t), 0) for a in artifacts]
        ax.bar([i + j * width for i in range(len(artifacts))], values, width, label=f"{t} thread(s)")
    ax.set_xticks([i + width * (len(threads) - 1) / 2 for i in range(len(artifacts))], [_plain(a) for a in artifacts], rotation=35,
                  ha="right", fontsize=8)
    ax.set_ylabel(f"p50 ms per image (batch {batch})")
    ax.set_yscale("log")
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    _save(fig, path)
    return True


def write_outputs(results: dict, out_dir: Path, source=None) -> list[Path]:
    """results.csv, results.md and the plots in ``out_dir``, after checking ``results`` (read
    from ``source``, by default ``out_dir/results.json``); plots an earlier run left there
    that this one does not make are removed."""
    out_dir = Path(out_dir)
    validate_results(results, source or out_dir / "results.json")
    write_csv(results, out_dir / "results.csv")
    write_text_atomic(out_dir / "results.md", markdown(results))
    written = [out_dir / "results.json", out_dir / "results.csv", out_dir / "results.md"]
    if write_pipeline_csv(results, out_dir / "pipeline.csv"):
        written.append(out_dir / "pipeline.csv")
    elif (out_dir / "pipeline.csv").is_file():  # an earlier run's, in a folder written again
        (out_dir / "pipeline.csv").unlink()
    threads = sorted({r["threads"] for r in results["rows"]})
    with FIGURE_LOCK:  # a fleet writes each device's outputs from its own thread
        for t in threads:
            if plot_pareto(results, out_dir / f"pareto_threads{t}.png", t):
                written.append(out_dir / f"pareto_threads{t}.png")
        if plot_latency_bars(results, out_dir / "latency.png"):
            written.append(out_dir / "latency.png")
    for stale in [*out_dir.glob("pareto_threads*.png"), out_dir / "latency.png"]:
        if stale not in written and stale.is_file():
            stale.unlink()
    return written


def load_results(path: Path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        results = json.loads(path.read_text())
    except OSError as e:
        raise EdgemarkError(f"{path}: not a readable benchmark result ({e.strerror or e})") from None
    except (ValueError, RecursionError) as e:  # not JSON, not UTF-8, nested too deep, a number too long
        raise EdgemarkError(f"{path}: not a readable benchmark result ({type(e).__name__}: {str(e)[:200]})") from None
    return validate_results(results, path)


def incomplete(results: dict) -> bool:
    """A run stopped before its end (killed, interrupted) leaves results.json without ``finished``."""
    return "finished" not in results


def accuracy_subset(results: dict) -> str:
    """Which test faces the NME figures are over."""
    return results.get("accuracy_list") or "no test faces (no --data)"


def machine_label(results: dict) -> str:
    m = results["machine"]
    board = f", {m['board']}" if m.get("board") else ""
    return (f"{m['cpu']} ({m['machine']}, {m.get('cores')} cores{board}), host {m.get('host') or '?'}, "
            f"device {results.get('device') or '?'}")


def compare(a: dict, b: dict) -> list[dict]:
    """Rows present in both, matched by (artifact, threads, batch): B's p50 over A's."""
    index = {(r["artifact"], r["threads"], r["batch"]): r for r in a["rows"]}
    rows = []
    for r in b["rows"]:
        key = (r["artifact"], r["threads"], r["batch"])
        if key in index:
            ra = index[key]
            rows.append({"artifact": key[0], "threads": key[1], "batch": key[2], "a_p50_ms": ra["p50_ms"], "b_p50_ms": r["p50_ms"],
                         "ratio": r["p50_ms"] / ra["p50_ms"], "a_nme": ra.get("nme"), "b_nme": r.get("nme")})
    return rows


def merge_for_pareto(named_results: list[tuple[str, dict]], threads: int, batch: int = 1,
                     formats: set[str] | None = None) -> list[dict]:
    """Rows of several benchmark results (one per model) at one thread count and batch, each
    labelled ``model/artifact``, with ``on_front`` set for the Pareto-optimal rows (no other
    row is both faster and more accurate)."""
    rows, used = [], []
    for name, results in named_results:
        mine = [r for r in results["rows"] if r["threads"] == threads and r["batch"] == batch and r.get("nme") is not None
                and (not formats or r["format"] in formats)]
        if mine:
            used.append((name, results))
        rows += [{**r, "model": name, "label": f"{name}/{r['artifact']}", "machine": results["machine"]["cpu"],
                  "accuracy_list": accuracy_subset(results)} for r in mine]
    if not rows:
        raise EdgemarkError(f"no measurement with accuracy at {threads} thread(s), batch {batch} in these results")
    for what, key, advice in (("different machines", machine_label, "compare machines with edgemark bench compare A B"),
                              ("different test faces", accuracy_subset, "benchmark each with the same --data and --accuracy-faces")):
        if len({key(results) for _, results in used}) > 1:
            raise EdgemarkError(f"one Pareto front needs one machine and one set of test faces; these results are from {what} "
                                f"({advice}): " + "; ".join(f"{name}: {key(results)}" for name, results in used))
    front = {id(r) for r in pareto_front(rows)}
    for r in rows:
        r["on_front"] = id(r) in front
    return rows


NME_TIE = 0.5e-4  # 0.005 pp: artifacts whose NME differs by less (fp32 vs fp16 rounding) are equally accurate


def pareto_front(rows: list[dict]) -> list[dict]:
    """Rows, fastest first, that no other row beats on both p50 latency and NME (NMEs within
    ``NME_TIE`` count as equal, so a slower copy of the same accuracy is not on the front)."""
    front, best = [], float("inf")
    for r in sorted(rows, key=lambda r: (r["p50_ms"], r["nme"])):
        if r["nme"] < best - NME_TIE:
            front.append(r)
            best = r["nme"]
    return front


def plot_models_pareto(rows: list[dict], path: Path, title: str) -> None:
    with FIGURE_LOCK:  # matplotlib is not thread-safe (edgemark.plots)
        fig, ax = plt.subplots(figsize=(7.5, 5), dpi=120)
        models = list(dict.fromkeys(r["model"] for r in rows))
        cmap = plt.get_cmap("tab10")
        for i, model in enumerate(models):
            mine = [r for r in rows if r["model"] == model]
            for r in mine:
                ax.scatter(r["p50_ms"], r["nme"] * 100, color=cmap(i % 10), marker=MARKERS.get(r["precision"], "x"),
                           label=_plain(model) if r is mine[0] else None)
                ax.annotate(_plain(r["artifact"]), (r["p50_ms"], r["nme"] * 100), fontsize=6, xytext=(3, 2), textcoords="offset points")
        front = sorted((r for r in rows if r["on_front"]), key=lambda r: r["p50_ms"])
        ax.plot([r["p50_ms"] for r in front], [r["nme"] * 100 for r in front], "k--", lw=0.8, label="Pareto front")
        ax.set_xscale("log")
        ax.set_xlabel("p50 latency per image (ms, log)")
        ax.set_ylabel("NME (% inter-ocular)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
        ax.set_title(_plain(title), fontsize=9)
        fig.tight_layout()
        _save(fig, path)


def models_pareto_markdown(rows: list[dict], threads: int, batch: int, sources: list[str], command: str) -> str:
    lines = [f"Pareto of NME vs latency across models: {threads} thread(s), batch {batch}, on {rows[0]['machine']}. "
             f"NME on {rows[0]['accuracy_list']}.", "",
             f"Command: `{command}`", "",
             "From: " + ", ".join(f"`{s}`" for s in sources) + " (each names its own command, versions and date)", "",
             "| model | artifact | p50 ms | NME % | FR % | size KiB | on front |", "|---|---|---:|---:|---:|---:|:---:|"]
    for r in sorted(rows, key=lambda r: r["p50_ms"]):
        lines.append(f"| {r['model']} | {r['artifact']} | {r['p50_ms']:.3f} | {r['nme'] * 100:.2f} | {_pct(r.get('failure_rate'))} | "
                     f"{r['size_bytes'] / 1024:.0f} | {'yes' if r['on_front'] else ''} |")
    return "\n".join(lines) + "\n"
