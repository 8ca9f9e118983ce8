"""One self-contained HTML page per benchmark run (results.html beside results.md): the
machine facts, the command, the tables and the plots inline (base64 PNG), so the page can
be mailed or attached to a CI run as a single file."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from ..io import write_text_atomic
from .report import incomplete, peer_pipeline_sentences, pin_lines, pin_sentence, reference_sentence, summary_lines, validate_results

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1400px; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { border: 1px solid #bbb; padding: 3px 7px; }
th { background: #e8eef6; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #f6f8fa; }
code { background: #f0f0f0; padding: 1px 4px; word-break: break-all; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
.warn { color: #a05000; font-weight: bold; } dl.facts dt { font-weight: bold; float: left; clear: left; width: 9em; }
dl.facts dd { margin-left: 10em; }
"""

# sets body[data-plots-shown] once every plot has decoded, so a headless browser's DOM says so
SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.querySelectorAll('img.plot'));
  var shown = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-plots-shown', shown + '/' + imgs.length);
});
"""

ROW_COLUMNS = [  # (header, key, format): format "" = text
    ("artifact", "artifact", ""), ("threads", "threads", "d"), ("batch", "batch", "d"), ("p50 ms", "p50_ms", ".3f"),
    ("p90 ms", "p90_ms", ".3f"), ("p99 ms", "p99_ms", ".3f"), ("mean ms", "mean_ms", ".3f"), ("std ms", "std_ms", ".3f"),
    ("img/s", "throughput_ips", ".0f"), ("load ms", "load_ms", ".0f"), ("first ms", "first_inference_ms", ".1f"),
    ("peak RSS MiB", "peak_rss_mib", ".0f"), ("+RSS MiB", "rss_increase_mib", ".0f"), ("size KiB", "size_kib", ".0f"),
    ("NME %", "nme_pct", ".2f"), ("FR %", "failure_pct", ".2f"), ("drop pp", "nme_drop_pp", "+.2f"), ("runtime", "provider", ""),
]
JITTER_COLUMNS = [("jitter % IOD", "jitter_pct", ".2f"), ("EAR jitter", "ear_jitter", ".4f"),  # when the run measured them
                  ("clip jitter % IOD", "clip_jitter_pct", ".2f"), ("clip EAR jitter", "clip_ear_jitter", ".4f")]
PIPELINE_COLUMNS = [
    ("detector", "detector", ""), ("artifact", "artifact", ""), ("threads", "threads", "d"), ("refine", "refine", "d"),
    ("faces", "faces_found", "d"), ("p50 ms", "p50_ms", ".3f"), ("p90 ms", "p90_ms", ".3f"), ("p99 ms", "p99_ms", ".3f"),
    ("frames/s", "throughput_ips", ".0f"), ("+RSS MiB", "rss_increase_mib", ".0f"),
]


BUDGET_COLUMNS = [("artifact", "artifact", ""), ("float layers", "float_layers", "d"), ("budget pp", "budget_pp", "g"),
                  ("validation drop pp (export)", "export_drop_pp", "+.3f"), ("validation drop pp (here)", "drop_pp", "+.3f"),
                  ("within", "within", ""), ("test-list drop pp", "test_drop_pp", "+.3f")]


def _e(v) -> str:
    return html.escape(str(v), quote=True)


def _cell(value, spec: str, key: str) -> str:
    if value is None:
        return f'<td class="n" data-key="{key}">n/a</td>'
    if not spec:
        return f'<td data-key="{key}">{_e(value)}</td>'
    return f'<td class="n" data-key="{key}">{_e(format(value, spec))}</td>'


def _table(rows: list[dict], columns, table_id: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h, _, _ in columns)
    body = []
    for r in rows:
        cells = "".join(_cell(r.get(key), spec, key) for _, key, spec in columns)
        spread = r.get("p50_rounds_ms")
        title = f' title="p50 per round: {_e(", ".join(f"{x:.3f}" for x in spread))} ms"' if spread else ""
        body.append(f"<tr{title}>{cells}</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _display_row(r: dict) -> dict:
    return {**r, "size_kib": r.get("size_bytes", 0) / 1024, "nme_pct": None if r.get("nme") is None else r["nme"] * 100,
            "jitter_pct": None if r.get("jitter_iod") is None else r["jitter_iod"] * 100,
            "clip_jitter_pct": None if r.get("clip_jitter_iod") is None else r["clip_jitter_iod"] * 100,
            "failure_pct": None if r.get("failure_rate") is None else r["failure_rate"] * 100,
            "artifact": r.get("artifact") or "(detector alone)",
            **({"detector": f"{r['detector']}, tracked"} if r.get("tracked") else {})}


def _markdown_line(line: str) -> str:
    """One line of report.py's Markdown (bullets, **bold**, `code`) as HTML."""
    text = _e(line.lstrip(" -"))
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _list(lines: list[str]) -> str:
    items = [f"<li>{_markdown_line(x)}</li>" for x in lines if x.strip() and not x.startswith("#") and x.lstrip().startswith("-")]
    return f"<ul>{''.join(items)}</ul>" if items else ""


def _plot(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img class="plot" alt="{_e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _thread_count(path: Path) -> int:
    digits = re.sub(r"\D", "", path.stem)
    return int(digits) if digits else 0


def _plots(out_dir: Path) -> list[tuple[Path, str]]:
    """The PNGs write_outputs left beside results.json: the Pareto plot per thread count, then the latency bars."""
    found = sorted(out_dir.glob("pareto_threads*.png"), key=_thread_count)
    plots = [(p, f"NME vs p50 latency, {_thread_count(p)} thread(s), batch 1 (dashed: Pareto front)") for p in found]
    if (out_dir / "latency.png").is_file():
        plots.append((out_dir / "latency.png", "p50 latency per artifact and thread count, batch 1"))
    return plots


def html_report(results: dict, out_dir: Path) -> str:
    """The page, from ``results`` (a results.json's contents) and the plots in ``out_dir``."""
    out_dir = Path(out_dir)
    m, settings = results["machine"], results["settings"]
    title = f"Benchmark: {results.get('device') or 'unknown device'} on {m['cpu']}"
    facts = [("CPU", m["cpu"]), ("architecture", m["machine"]), ("cores", m.get("cores")), ("board", m.get("board")),
             ("OS", m.get("distribution") or m["os"]), ("kernel", m["os"]), ("Python", m["python"]), ("host", m.get("host")),
             ("device", results.get("device")), ("started", results["started"]), ("finished", results.get("finished", "n/a")),
             ("versions", ", ".join(f"{k} {v}" for k, v in results["versions"].items()))]
    parts = [f"<h1>{_e(title)}</h1>", f'<p>Command: <code id="command">{_e(results["command"])}</code></p>']
    if incomplete(results):
        parts.append('<p class="warn">Incomplete run: interrupted before every measurement was taken.</p>')
    parts.append('<h2>Machine</h2><dl class="facts" id="machine">'
                 + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts if v is not None) + "</dl>")
    rounds = settings.get("rounds", 1)
    parts.append(f"<p>Method: {_e(settings['latency'])}; each artifact x threads x batch in a fresh process; warm-up "
                 f"{_e(settings['warmup'])} calls, then at least {_e(settings['min_runs'])} calls and {_e(settings['min_seconds'])} s; "
                 f"{_e(pin_sentence(results))}; Intel AMX: {_e(settings.get('amx', 'not recorded'))}."
                 + (f" {_e(rounds)} rounds: each row is its median round (hover a row for every round's p50)." if rounds > 1 else "")
                 + f" Accuracy on {_e(results.get('accuracy_list') or 'no list (no --data)')}{_e(reference_sentence(results))}.</p>")
    shown = [_display_row(r) for r in results["rows"]]
    columns = ROW_COLUMNS[:-1] + [c for c in JITTER_COLUMNS if any(r.get(c[1]) is not None for r in shown)] + ROW_COLUMNS[-1:]
    parts.append("<h2>Results</h2>" + _table(shown, columns, "results"))
    jitter = results.get("jitter_settings") or {}
    if jitter.get("method"):
        parts.append(f"<p>Jitter: {_e(jitter['method'])}.</p>")
    if isinstance(jitter.get("clip"), dict):
        parts.append(f"<p>Clip jitter: {_e(jitter['clip'].get('method', ''))} ({_e(jitter['clip'].get('frames_with_face'))} of "
                     f"{_e(jitter['clip'].get('frames'))} frames with a face).</p>")
    if results.get("budget_checks"):  # bench/budget_check.py: --nme-budget artifacts, their drop again on their validation faces
        parts.append("<h2>NME budgets</h2><p>Each --nme-budget artifact's drop against torch fp32, measured again in this run in "
                     "its runtime on the validation faces its budget was set on; the test-list drop beside it.</p>"
                     + _table([{**c, "within": None if c.get("within") is None else ("yes" if c["within"] else "NO")}
                               for c in results["budget_checks"]], BUDGET_COLUMNS, "budgets"))
    parts.append(_list(pin_lines(results)))
    summary = summary_lines(results)
    if summary:
        parts.append('<h2>Summary (batch 1)</h2><div id="summary">' + _list(summary) + "</div>")
    plots = _plots(out_dir)
    if plots:
        parts.append('<h2>Plots</h2><div id="plots">' + "".join(_plot(p, c) for p, c in plots) + "</div>")
    if results.get("pipeline_rows"):
        ps = results["pipeline_settings"]
        parts.append(f"<h2>Pipeline per {_e(ps['frame'])} frame (detection on every frame)</h2><p>Method: {_e(ps['latency'])}.</p>"
                     + _table([_display_row(r) for r in results["pipeline_rows"]], PIPELINE_COLUMNS, "pipeline"))
        ratios = peer_pipeline_sentences(results)
        if ratios:
            parts.append("<h3>Our whole frame against the peer's pipeline</h3><div id=\"peer-pipeline\">" + _list(ratios) + "</div>")
    if results["skipped"]:
        parts.append("<h2>Not measured</h2><ul>" + "".join(
            f"<li>{_e(s['artifact'])} threads={_e(s['threads'])} batch={_e(s['batch'])}: {_e(s['reason'])}</li>"
            for s in results["skipped"]) + "</ul>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{STYLE}</style><script>{SCRIPT}</script></head>\n<body>\n"
            + "\n".join(p for p in parts if p) + "\n</body></html>\n")


def write_html_report(results: dict, out_dir: Path, source=None) -> Path:
    """Write ``out_dir/results.html`` (atomically) after checking ``results`` (read from
    ``source``, by default ``out_dir/results.json``); call it after write_outputs, whose plots it inlines."""
    out_dir = Path(out_dir)
    validate_results(results, source or out_dir / "results.json")
    path = out_dir / "results.html"
    write_text_atomic(path, html_report(results, out_dir))
    return path
