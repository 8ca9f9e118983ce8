"""The command line of an edge bundle: ``edgemark predict|bench|verify|info`` with only
numpy, OpenCV, psutil and the runtime installed (no torch, typer or rich). It is what
``edgemark deploy`` puts on the device as ``BUNDLE/bin/edgemark``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import EdgemarkError


def _ints(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="edgemark", description="edgemark edge runner (no torch)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="landmarks of the face in an image")
    p.add_argument("image")
    p.add_argument("--model", required=True, help="artifact folder")
    p.add_argument("--box", help="left,top,right,bottom in pixels: this face only (default: every face the detector finds)")
    p.add_argument("--out", help="write the image with the landmarks drawn")
    p.add_argument("--detector", default="blazeface", help="blazeface (default), blazeface-full, yunet or haar")
    p.add_argument("--detector-model", help="the detector's model file (yunet; default for blazeface: the bundle's copy)")
    p.add_argument("--refine", type=int, help="refinement passes (default: the measured one for the detector; 2 for --box)")
    p.add_argument("--threads", type=int)
    p.add_argument("--tta", default="none", help="flip: average each face with its mirror image (twice the landmark cost)")
    b = sub.add_parser("bench", help="benchmark the bundle's artifacts here")
    b.add_argument("--bundle", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--threads", default="1")
    b.add_argument("--batch", default="1")
    b.add_argument("--warmup", type=int, default=20)
    b.add_argument("--min-runs", type=int, default=200)
    b.add_argument("--min-seconds", type=float, default=2.0)
    b.add_argument("--rounds", type=int, default=1, help="measure the whole list this many times in turn")
    b.add_argument("--no-amx", action="store_true", help="refuse Intel AMX to every run (where the CPU has it)")
    b.add_argument("--command", dest="bench_command", default="", help="the host command, recorded in the results")
    b.add_argument("--detector", default="blazeface", help="pipeline rows for these detectors (comma list; empty: none)")
    b.add_argument("--refine", type=int, help="refinement passes in the pipeline rows (default: each detector's measured one)")
    b.add_argument("--no-pin", action="store_true", help="do not pin runs to cores")
    b.add_argument("--cores", help="pin runs to these cores, in order (e.g. 4-7 for a big.LITTLE board's big cores)")
    b.add_argument("--worker-timeout", type=float, default=900.0, help="seconds one measurement may take (then: not measured)")
    b.add_argument("--tta", default="", help="flip: every artifact also measured flip-averaged, a row of its own")
    f = sub.add_parser("profile", help="per-operator profiles of the bundle's artifacts and detector networks here (JSON)")
    f.add_argument("--bundle", required=True)
    f.add_argument("--out", required=True, help="the profile.json to write")
    f.add_argument("--artifact", action="append", default=[], help="an artifact of the bundle by name (repeat for more)")
    f.add_argument("--detector", action="append", default=[], help="a detector network by name (repeat for more)")
    f.add_argument("--runs", type=int, default=50)
    f.add_argument("--warmup", type=int, default=10)
    f.add_argument("--threads", type=int, default=1)
    v = sub.add_parser("verify", help="check every file of a bundle against its hashes")
    v.add_argument("bundle")
    sub.add_parser("info", help="device facts as JSON")
    args = parser.parse_args(argv)
    try:
        if args.command == "predict":
            from .pipeline import load_pipeline
            from .predict import parse_box, predict_image

            box = parse_box(args.box)
            pipe = load_pipeline(args.model, None if box else args.detector, args.refine, threads=args.threads,
                                 detector_file=args.detector_model, tta=args.tta)
            result = predict_image(pipe, args.image, box, args.out)
            print(json.dumps(result, indent=1))
            if not result["faces"]:
                print(f"no face found in {args.image} (detector: {result['detector']})", file=sys.stderr)
                return 1
        elif args.command == "profile":
            from .environment import machine_summary
            from .io import write_json_atomic
            from .profile.run import profile_artifact, profile_detector

            profiles = [profile_artifact(Path(args.bundle) / "artifacts" / name, args.runs, args.warmup, args.threads)
                        for name in args.artifact]
            profiles += [profile_detector(name, args.runs, args.warmup, args.threads) for name in args.detector]
            write_json_atomic(Path(args.out), {"machine": machine_summary(), "profiles": profiles})
            print(json.dumps({"profile": args.out}))
        elif args.command == "verify":
            from .remote.bundle import verify_bundle

            print(json.dumps(verify_bundle(Path(args.bundle))))
        elif args.command == "info":
            from .environment import machine_summary, throttle_state

            print(json.dumps({"machine": machine_summary(), "throttle": throttle_state()}))
        elif args.command == "bench":
            import numpy as np

            from .bench.run import parse_cores, run_bench

            bundle = Path(args.bundle)
            test_crops, frame = None, None
            if (bundle / "testset.npz").exists():
                data = np.load(bundle / "testset.npz")
                test_crops = (data["crops"], data["mats"], data["truth"], str(data["name"]))
                frame = data["frame"] if "frame" in data else None
            run_bench(bundle / "artifacts", "cpu", _ints(args.threads), _ints(args.batch), Path(args.out), test_crops=test_crops,
                      warmup=args.warmup, min_runs=args.min_runs, min_seconds=args.min_seconds, command=args.bench_command,
                      frame=frame, detectors=[d for d in args.detector.split(",") if d] if frame is not None else [],
                      amx=not args.no_amx, rounds=args.rounds, refine=args.refine, pin=not args.no_pin,
                      cores=parse_cores(args.cores) if args.cores else None, worker_timeout=args.worker_timeout,
                      tta=tuple(t for t in args.tta.split(",") if t))
            print(json.dumps({"results": str(Path(args.out) / "results.json")}))
    except EdgemarkError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
