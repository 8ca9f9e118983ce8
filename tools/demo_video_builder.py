# Builds the 640x480 benchmark clip of benchmarks/archive/demo.md (run from the repository root).
import sys; sys.path.insert(0, "tests")
from pathlib import Path
import cv2
from demo_video import build_video
src = build_video(Path("../shared/datasets/cuhk_facepoint"), Path("/tmp/drive.avi"))
cap = cv2.VideoCapture(str(src)); frames = []
while True:
    ok, f = cap.read()
    if not ok and len(frames) >= 94: break
    if ok: frames.append(f)
w = cv2.VideoWriter("/tmp/drive_640x480.avi", cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
for _ in range(4):
    for f in frames: w.write(f)
w.release(); print(len(frames) * 4)
