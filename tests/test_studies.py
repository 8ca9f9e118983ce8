"""The detector study (it needs a landmark model too) lives in edgemark.studies, outside the
detector package, and runs under its new name."""

import subprocess
import sys
from pathlib import Path

import edgemark


def test_detector_study_runs_under_its_new_name_and_the_detector_package_holds_no_study():
    done = subprocess.run([sys.executable, "-m", "edgemark.studies.detector_study", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "usage: python -m edgemark.studies.detector_study" in done.stdout, done.stderr
    package = Path(edgemark.__file__).parent
    assert not (package / "detect" / "study.py").exists()
    # the detector package imports nothing of the landmark side's studies
    assert not any("studies" in line for p in (package / "detect").glob("*.py") for line in p.read_text().splitlines()
                   if line.lstrip().startswith(("import", "from")))
