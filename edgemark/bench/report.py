"""Benchmark outputs: CSV, Markdown, the Pareto plot (latency vs NME) and a latency bar
chart; and the side-by-side comparison of two result files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..errors import EdgemarkError  # noqa: E402
from ..io import atomic_path, write_text_atomic  # noqa: E402

COLUMNS = ["artifact", "threads", "batch", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "throughput_ips", "load_ms",
           "first_inference_ms", "peak_rss_mib", "rss_increase_mib", "size_bytes", "nme", "failure_rate", "auc", "nme_drop_pp",
           "provider", "runs", "pinned_cores"]


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


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [f"# Benchmark: {results['device']} on {m['cpu']}", "",
             f"Command: `{results['command']}`", "",
             f"Machine: {m['cpu']} ({m['machine']}, {m['cores']} cores), {m['os']}, Python {m['python']}. "
             f"Started {results['started']}, finished {results.get('finished', 'n/a')}.", "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()), "",
             f"Throttling before: `{json.dumps(results['throttle_before'])}`; after: `{json.dumps(results.get('throttle_after', {}))}`", "",
             f"Method: {results['settings']['latency']}; each artifact x threads x batch in a fresh process; warm-up "
             f"{results['settings']['warmup']} calls, then at least {results['settings']['min_runs']} calls and "
             f"{results['settings']['min_seconds']} s; threads pinned to as many cores: {results['settings']['pinned']}. "
             f"RSS increase = peak RSS minus the bare interpreter's. Accuracy on {results.get('accuracy_list') or 'no list (no --data)'}.", "",
             "| artifact | threads | batch | p50 ms | p90 ms | p99 ms | mean ± std ms | img/s | load ms | first ms | peak RSS MiB | +RSS MiB | size KiB | NME % | FR % | drop pp | runtime |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results["rows"]:
        lines.append(f"| {r['artifact']} | {r['threads']} | {r['batch']} | {r['p50_ms']:.3f} | {r['p90_ms']:.3f} | {r['p99_ms']:.3f} | "
                     f"{r['mean_ms']:.3f} ± {r['std_ms']:.3f} | {r['throughput_ips']:.0f} | {r['load_ms']:.0f} | {r['first_inference_ms']:.1f} | "
                     f"{r['peak_rss_mib']:.0f} | {r['rss_increase_mib']:.0f} | {r['size_bytes'] / 1024:.0f} | "
                     f"{_pct(r.get('nme'))} | {_pct(r.get('failure_rate'))} | "
                     f"{_f(r.get('nme_drop_pp'), '+.2f')} | {r['provider']} |")
    lines += summary_lines(results)
    lines += pipeline_lines(results)
    if "finished" not in results:
        lines += ["", "**Incomplete run**: interrupted before every measurement was taken."]
    if results["skipped"]:
        lines += ["", "Not measured:", ""] + [f"- {s['artifact']} threads={s['threads']} batch={s['batch']}: {s['reason']}" for s in results["skipped"]]
    return "\n".join(lines) + "\n"


def pipeline_lines(results: dict) -> list[str]:
    """The pipeline table: per frame, each detector alone and with each artifact."""
    rows = results.get("pipeline_rows")
    if not rows:
        return []
    settings = results["pipeline_settings"]
    lines = ["", f"## Pipeline per {settings['frame']} frame (detection on every frame)", "",
             f"Method: {settings['latency']}; same warm-up, duration and pinning rules as above.", "",
             "| detector | artifact | threads | refine | faces | p50 ms | p90 ms | p99 ms | mean ± std ms | frames/s | +RSS MiB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        refine = "" if r.get("refine") is None else r["refine"]
        lines.append(f"| {r['detector']} | {r['artifact'] or '(detector alone)'} | {r['threads']} | {refine} | {r['faces_found']} | {r['p50_ms']:.3f} | "
                     f"{r['p90_ms']:.3f} | {r['p99_ms']:.3f} | {r['mean_ms']:.3f} ± {r['std_ms']:.3f} | {r['throughput_ips']:.0f} | "
                     f"{r['rss_increase_mib']:.0f} |")
    return lines


def summary_lines(results: dict, equal_pp: float = 0.1) -> list[str]:
    """The fastest artifact at equal accuracy, and int8's speedup over fp32 per runtime (batch 1)."""
    rows = [r for r in results["rows"] if r["batch"] == 1]
    if not rows:
        return []
    lines = ["", "## Summary (batch 1)", ""]
    for t in sorted({r["threads"] for r in rows}):
        at = [r for r in rows if r["threads"] == t]
        equal = [r for r in at if r.get("nme_drop_pp") is not None and r["nme_drop_pp"] <= equal_pp]
        if equal:
            best = min(equal, key=lambda r: r["p50_ms"])
            lines.append(f"- {t} thread(s): fastest at equal accuracy (NME within {equal_pp} pp of torch fp32): "
                         f"**{best['artifact']}**, p50 {best['p50_ms']:.3f} ms, NME {best['nme'] * 100:.2f} %.")
        fastest = min(at, key=lambda r: r["p50_ms"])
        lines.append(f"- {t} thread(s): fastest overall: {fastest['artifact']}, p50 {fastest['p50_ms']:.3f} ms"
                     + (f", NME drop {fastest['nme_drop_pp']:+.2f} pp." if fastest.get("nme_drop_pp") is not None else "."))
        for fmt in ("onnx", "openvino", "tflite"):
            fp32 = next((r for r in at if r["format"] == fmt and r["precision"] == "fp32"), None)
            int8 = next((r for r in at if r["format"] == fmt and r["precision"] == "int8"), None)
            if fp32 and int8:
                lines.append(f"  - {fmt}: int8 vs fp32 speedup {fp32['p50_ms'] / int8['p50_ms']:.2f}x "
                             f"({fp32['p50_ms']:.3f} -> {int8['p50_ms']:.3f} ms)")
    return lines


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def plot_pareto(results: dict, path: Path, threads: int, batch: int = 1) -> bool:
    rows = [r for r in results["rows"] if r["threads"] == threads and r["batch"] == batch and r.get("nme") is not None]
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=120)
    colors = {"torch": "grey", "onnx": "tab:blue", "openvino": "tab:purple", "tflite": "tab:orange"}
    for r in rows:
        ax.scatter(r["p50_ms"], r["nme"] * 100, color=colors.get(r["format"], "k"), marker={"fp32": "o", "fp16": "s", "int8": "^"}[r["precision"]])
        ax.annotate(r["artifact"], (r["p50_ms"], r["nme"] * 100), fontsize=7, xytext=(4, 2), textcoords="offset points")
    front = pareto_front(rows)
    ax.plot([r["p50_ms"] for r in front], [r["nme"] * 100 for r in front], "k--", lw=0.8, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel(f"p50 latency per image (ms, log), {threads} thread(s), batch {batch}")
    ax.set_ylabel("NME (% inter-ocular)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title(f"Latency vs accuracy on {results['machine']['cpu']}", fontsize=9)
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
    ax.set_xticks([i + width * (len(threads) - 1) / 2 for i in range(len(artifacts))], artifacts, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel(f"p50 ms per image (batch {batch})")
    ax.set_yscale("log")
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    _save(fig, path)
    return True


def write_outputs(results: dict, out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    write_csv(results, out_dir / "results.csv")
    write_text_atomic(out_dir / "results.md", markdown(results))
    written = [out_dir / "results.json", out_dir / "results.csv", out_dir / "results.md"]
    threads = sorted({r["threads"] for r in results["rows"]})
    for t in threads:
        if plot_pareto(results, out_dir / f"pareto_threads{t}.png", t):
            written.append(out_dir / f"pareto_threads{t}.png")
    if plot_latency_bars(results, out_dir / "latency.png"):
        written.append(out_dir / "latency.png")
    return written


def load_results(path: Path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise EdgemarkError(f"{path}: not a readable benchmark result ({e})") from None


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
    rows = []
    for name, results in named_results:
        for r in results["rows"]:
            if r["threads"] != threads or r["batch"] != batch or r.get("nme") is None:
                continue
            if formats and r["format"] not in formats:
                continue
            rows.append({**r, "model": name, "label": f"{name}/{r['artifact']}", "machine": results["machine"]["cpu"]})
    if not rows:
        raise EdgemarkError(f"no measurement with accuracy at {threads} thread(s), batch {batch} in these results")
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
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=120)
    models = list(dict.fromkeys(r["model"] for r in rows))
    cmap = plt.get_cmap("tab10")
    for i, model in enumerate(models):
        mine = [r for r in rows if r["model"] == model]
        for r in mine:
            ax.scatter(r["p50_ms"], r["nme"] * 100, color=cmap(i % 10), marker={"fp32": "o", "fp16": "s", "int8": "^"}[r["precision"]],
                       label=model if r is mine[0] else None)
            ax.annotate(r["artifact"], (r["p50_ms"], r["nme"] * 100), fontsize=6, xytext=(3, 2), textcoords="offset points")
    front = sorted((r for r in rows if r["on_front"]), key=lambda r: r["p50_ms"])
    ax.plot([r["p50_ms"] for r in front], [r["nme"] * 100 for r in front], "k--", lw=0.8, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel("p50 latency per image (ms, log)")
    ax.set_ylabel("NME (% inter-ocular)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def models_pareto_markdown(rows: list[dict], threads: int, batch: int, sources: list[str], command: str) -> str:
    lines = [f"Pareto of NME vs latency across models: {threads} thread(s), batch {batch}, on {rows[0]['machine']}.", "",
             f"Command: `{command}`", "",
             "From: " + ", ".join(f"`{s}`" for s in sources) + " (each names its own command, versions and date)", "",
             "| model | artifact | p50 ms | NME % | FR % | size KiB | on front |", "|---|---|---:|---:|---:|---:|:---:|"]
    for r in sorted(rows, key=lambda r: r["p50_ms"]):
        lines.append(f"| {r['model']} | {r['artifact']} | {r['p50_ms']:.3f} | {r['nme'] * 100:.2f} | {_pct(r.get('failure_rate'))} | "
                     f"{r['size_bytes'] / 1024:.0f} | {'yes' if r['on_front'] else ''} |")
    return "\n".join(lines) + "\n"
