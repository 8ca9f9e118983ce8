"""The README's tables from this folder's outputs: python tables.py
The blazeface-fast section's (keypoints_fast.json, frame_size_fast.json): python tables.py fast"""
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent


def rob_name(row):
    return f"{row['group']} {row['value']:g}" if row["group"] != "detector" else f"detector {row['value']}"


def fast():
    F = ("blazeface", "blazeface-int8-96", "blazeface-fast")
    kp = json.loads((HERE / "keypoints_fast.json").read_text())  # the three in one run
    ref = json.loads((HERE / "eval" / "blazeface.metrics.json").read_text())
    print("| detector | found | NME % | FR@0.1 % | AUC@0.1 | NME vs blazeface, pp | keypoints vs labels, % IOD | keypoints moved from blazeface's, % IOD | extra detections |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in F:
        m = json.loads((HERE / "eval" / f"{n}.metrics.json").read_text())
        k = kp[n]
        shift = k.get("shift_vs_blazeface_mean_pct")
        print(f"| {n} | {m['found']}/{m['faces']} | {m['nme']*100:.4f} | {m['failure_rate']*100:.2f} | {m['auc']:.4f} | "
              f"{(m['nme'] - ref['nme'])*100:+.4f} | {k['kp_err_mean_pct']:.3f} | {'-' if shift is None else f'{shift:.2f}'} | {k['extra']} |")
    print()
    rob = {n: json.loads((HERE / "robustness" / n / "robustness.json").read_text()) for n in F}
    print("| condition | " + " | ".join(F) + " | blazeface-fast - blazeface, NME pp |")
    print("|---|" + "---:|" * (len(F) + 1))
    worse, moved = {n: [] for n in F}, []
    for i, row in enumerate(rob["blazeface"]["rows"]):
        if "detector" not in row:
            continue
        cells = []
        for n in F:
            d = rob[n]["rows"][i]["detector"]
            assert rob_name(rob[n]["rows"][i]) == rob_name(row)
            cells.append(f"{d['nme']*100:.2f} / {d['failure_rate']*100:.1f}" + (f" ({d['missed']})" if d["missed"] else ""))
            b = row["detector"]
            if n != "blazeface" and row["group"] != "detector" and (d["nme"] - b["nme"] > 0.0005 or d["failure_rate"] > b["failure_rate"] or d["missed"] > b["missed"]):
                worse[n].append(f"{rob_name(row)}: {b['nme']*100:.2f}/{b['failure_rate']*100:.1f}/{b['missed']} -> {d['nme']*100:.2f}/{d['failure_rate']*100:.1f}/{d['missed']}")
        a, f = rob["blazeface-int8-96"]["rows"][i]["detector"], rob["blazeface-fast"]["rows"][i]["detector"]
        if a != f:
            moved.append(f"{rob_name(row)}: {a['nme']*100:.2f}/{a['failure_rate']*100:.1f}/{a['missed']} -> {f['nme']*100:.2f}/{f['failure_rate']*100:.1f}/{f['missed']}")
        print(f"| {rob_name(row)} | " + " | ".join(cells) + f" | {(rob['blazeface-fast']['rows'][i]['detector']['nme'] - row['detector']['nme'])*100:+.2f} |")
    print()
    print("| detector | rows | mean NME % | mean FR % | misses | rows NME > +0.05 pp | largest NME rise, pp | rows FR up | rows misses up |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in F:
        rows = [(r["detector"], b["detector"]) for r, b in zip(rob[n]["rows"], rob["blazeface"]["rows"]) if "detector" in r and r["group"] != "detector"]
        rise = [(d["nme"] - b["nme"]) * 100 for d, b in rows]
        print(f"| {n} | {len(rows)} | {sum(d['nme'] for d, _ in rows) / len(rows) * 100:.3f} | {sum(d['failure_rate'] for d, _ in rows) / len(rows) * 100:.2f} | "
              f"{sum(d['missed'] for d, _ in rows)} | {sum(x > 0.05 for x in rise)} | {max(rise):+.2f} | "
              f"{sum(d['failure_rate'] > b['failure_rate'] for d, b in rows)} | {sum(d['missed'] > b['missed'] for d, b in rows)} |")
    print()
    for n in F[1:]:
        print(f"- {n}: rows worse than blazeface (NME by more than 0.05 pp, FR or misses up): {len(worse[n])}: " + "; ".join(worse[n]))
    print(f"- rows where blazeface-fast differs from blazeface-int8-96 (NME/FR/misses): {len(moved)}: " + "; ".join(moved))
    print()
    fs = json.loads((HERE / "frame_size_fast.json").read_text())  # the three in one run
    print("| eyes apart, px | " + " | ".join(F) + " |")
    print("|---|" + "---:|" * len(F))
    for i in fs["blazeface"]:
        cells = []
        for n in F:
            c = fs[n][i]
            cells.append(f"{c['found_pct']:.1f} % / " + " / ".join("-" if c[k] is None else f"{c[k]:.2f}" for k in ("kp_err_mean_pct", "nme_mean_pct")))
        print(f"| {i} | " + " | ".join(cells) + " |")


if sys.argv[1:] == ["fast"]:
    fast()
    sys.exit()
V = ("blazeface", "blazeface-112", "blazeface-96", "blazeface-int8", "blazeface-int8-112", "blazeface-int8-96")
kp = json.loads((HERE / "keypoints.json").read_text())
print("| detector | found | NME % | FR@0.1 % | AUC@0.1 | NME vs blazeface, pp | keypoints vs labels, % IOD | keypoints moved from blazeface's, % IOD | extra detections |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
ref = json.loads((HERE / "eval" / "blazeface.metrics.json").read_text())
for n in V:
    m = json.loads((HERE / "eval" / f"{n}.metrics.json").read_text())
    k = kp[n]
    shift = k.get("shift_vs_blazeface_mean_pct")
    print(f"| {n} | {m['found']}/{m['faces']} | {m['nme']*100:.4f} | {m['failure_rate']*100:.2f} | {m['auc']:.4f} | "
          f"{(m['nme'] - ref['nme'])*100:+.4f} | {k['kp_err_mean_pct']:.3f} | {'-' if shift is None else f'{shift:.2f}'} | {k['extra']} |")
print()
rob = {n: json.loads((HERE / "robustness" / n / "robustness.json").read_text()) for n in V}
print("| condition | " + " | ".join(V) + " |")
print("|---|" + "---:|" * len(V))
worse = {n: [] for n in V}
for i, row in enumerate(rob["blazeface"]["rows"]):
    if "detector" not in row:
        continue
    name = f"{row['group']} {row['value']:g}" if row["group"] != "detector" else f"detector {row['value']}"
    cells = []
    for n in V:
        d = rob[n]["rows"][i]["detector"]
        cells.append(f"{d['nme']*100:.2f} / {d['failure_rate']*100:.1f}" + (f" ({d['missed']})" if d["missed"] else ""))
        b = row["detector"]
        if n != "blazeface" and (d["nme"] - b["nme"] > 0.0005 or d["failure_rate"] > b["failure_rate"] or d["missed"] > b["missed"]):
            worse[n].append(f"{name}: {b['nme']*100:.2f}/{b['failure_rate']*100:.1f}/{b['missed']} -> {d['nme']*100:.2f}/{d['failure_rate']*100:.1f}/{d['missed']}")
    print(f"| {name} | " + " | ".join(cells) + " |")
print()
print("| detector | rows | mean NME % | mean FR % | misses | rows NME > +0.05 pp | largest NME rise, pp | rows FR up | rows misses up |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for n in V:
    rows = [(r["detector"], b["detector"]) for r, b in zip(rob[n]["rows"], rob["blazeface"]["rows"]) if "detector" in r and r["group"] != "detector"]
    rise = [(d["nme"] - b["nme"]) * 100 for d, b in rows]
    print(f"| {n} | {len(rows)} | {sum(d['nme'] for d, _ in rows) / len(rows) * 100:.3f} | {sum(d['failure_rate'] for d, _ in rows) / len(rows) * 100:.2f} | "
          f"{sum(d['missed'] for d, _ in rows)} | {sum(x > 0.05 for x in rise)} | {max(rise):+.2f} | "
          f"{sum(d['failure_rate'] > b['failure_rate'] for d, b in rows)} | {sum(d['missed'] > b['missed'] for d, b in rows)} |")
print()
for n in V[1:]:
    print(f"- {n}: rows worse than blazeface (NME by more than 0.05 pp, FR or misses up): {len(worse[n])}: " + "; ".join(worse[n]))
print()
fs = json.loads((HERE / "frame_size.json").read_text())
iods = list(fs["blazeface"])
print("| eyes apart, px | " + " | ".join(V) + " |")
print("|---|" + "---:|" * len(V))
for i in iods:
    cells = []
    for n in V:
        c = fs[n][i]
        cells.append(f"{c['found_pct']:.1f} % / " + ("-" if c["nme_mean_pct"] is None else f"{c['nme_mean_pct']:.2f}"))
    print(f"| {i} | " + " | ".join(cells) + " |")
print()
ab = json.loads((HERE / "ab_core1.json").read_text())
base = ab["blazeface: detect every frame"]["p50_ms"]
base_d = ab["blazeface: detector alone"]["p50_ms"]
print("| detector | invoke alone | detector alone | vs blazeface | detect every frame | vs blazeface (bar: 0.6x) |")
print("|---|---:|---:|---:|---:|---:|")
for n in V:
    inv, d, e = (ab[f"{n}: {t}"]["p50_ms"] for t in ("invoke alone", "detector alone", "detect every frame"))
    print(f"| {n} | {inv:.3f} | {d:.3f} | {d / base_d:.2f}x | {e:.3f} | {e / base:.2f}x |")
