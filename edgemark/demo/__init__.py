"""The OpenCV runtime: detect, track, smooth, estimate head pose, and run the
driver-monitoring or face-filter modes on live video or files."""
