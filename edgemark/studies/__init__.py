"""Studies that measure the project's own choices with the whole pipeline (they need a landmark
model as well as a detector, so they live outside the detector package)."""
