"""edgemark deploy and predict (local or on a device over SSH)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import EdgemarkError
from .common import (DEFAULT_MODEL, ModelHelp, TtaOption, DataOption, DetectorModelOption, DetectorOption, NoAmxOption, RefineOption, app, bundle_name, choices,
                     console, err_console, load_bench_frame, load_test_crops, ssh_target, refuse_amx)


@app.command()
def deploy(
    model: Path = typer.Option(DEFAULT_MODEL, help="A shipped model by name (every artifact of it here; NAME/ARTIFACT for one), "
                               "an export folder, or one artifact folder."),
    host: str = typer.Option(..., help="user@host, an ~/.ssh/config alias, or ssh://user@host:port."),
    target: str = typer.Option("all", help="onnx, openvino, tflite, ncnn, executorch, a comma list, or all (ExecuTorch only "
                               "when named: its runtime brings torch into the device venv)."),
    precision: str = typer.Option("all", help="fp32, fp16, int8, a comma list, or all."),
    port: Optional[int] = typer.Option(None, help="SSH port (default: from ssh config, else 22)."),
    identity: Optional[Path] = typer.Option(None, help="SSH private key (default: ssh-agent / ssh config)."),
    ssh_config: Optional[Path] = typer.Option(None, help="An ssh_config file to use instead of ~/.ssh/config."),
    python: str = typer.Option("python3", help="Python on the device that creates the venv."),
    remote_dir: str = typer.Option("edgemark", help="Folder on the device (relative to the login directory)."),
    data: Optional[Path] = DataOption,
    test_faces: int = typer.Option(200, help="Test faces shipped with the bundle for accuracy on the device (0: none)."),
):
    """Copy artifacts and a torch-free runner to a device, set up its venv, check hashes there."""
    from ..bench.run import find_artifacts
    from ..export.pipeline import PRECISIONS, TARGETS
    from ..remote.bundle import TORCH_RUNTIMES, device_artifacts
    from ..remote.deploy import deploy as run_deploy
    from ..shipped import resolve_export_folder

    model = resolve_export_folder(model)
    ssh = ssh_target(host, port, identity, ssh_config)
    artifacts, left_out = device_artifacts(find_artifacts(model, choices(target, TARGETS, "--target"),
                                                          choices(precision, PRECISIONS, "--precision")), target)
    if left_out:
        console.print(f"[yellow]not deployed:[/] {', '.join(a.name for a in left_out)}: {', '.join(TORCH_RUNTIMES)}'s Python "
                      "runtime brings torch into the device venv; name it in --target to opt in (e.g. --target ncnn,executorch)")
    if not artifacts:
        raise EdgemarkError(f"{model}: no deployable artifact matches --target {target} --precision {precision}")
    crops = load_test_crops(data, artifacts[0], test_faces) if test_faces else None
    frame = load_bench_frame(data) if crops is not None else None
    with console.status("deploying") as status:
        result = run_deploy(ssh, artifacts, bundle_name(model), remote_dir, python, crops, on_step=lambda m: status.update(m),
                            frame=frame)
    console.print(f"deployed {', '.join(result['artifacts'])} to {result['host']}:{result['bundle']} "
                  f"(device: {result['device_machine']}, Python {result['device_python']}; venv {result['venv']} with "
                  f"{', '.join(result['requirements'])}); hashes verified on the device")
    console.print(f"on the device: {result['bundle']}/bin/edgemark predict --model {result['bundle']}/artifacts/{result['artifacts'][0]} IMAGE.jpg")


@app.command()
def predict(
    image: Path = typer.Argument(..., help="An image file."),
    model: Path = typer.Option(DEFAULT_MODEL, help=ModelHelp),
    box: Optional[str] = typer.Option(None, help="left,top,right,bottom: this face only, no detector (refinement still applies)."),
    out: Optional[Path] = typer.Option(None, help="Write the image with the faces and landmarks drawn."),
    detector: str = DetectorOption,
    detector_model: Optional[Path] = DetectorModelOption,
    refine: int = RefineOption,
    threads: Optional[int] = typer.Option(None, help="Inference threads."),
    no_amx: bool = NoAmxOption,
    tta: str = TtaOption,
    device: str = typer.Option("cpu", help="cpu, gpu, cuda or cuda:N (torch checkpoints, and ONNX artifacts with onnxruntime-gpu: "
                               "pip install 'edgemark[gpu]'); a runtime without that device is a named error."),
):
    """Print the landmarks of every face in an image as JSON (and draw them with --out);
    exit status 1 when no face is found."""
    import json

    from ..pipeline import load_pipeline
    from ..predict import parse_box, predict_image

    parsed = parse_box(box)
    refuse_amx(no_amx)
    pipe = load_pipeline(model, None if parsed else detector, refine, threads=threads, detector_file=detector_model, device=device,
                         tta=tta)
    result = predict_image(pipe, image, parsed, out)
    print(json.dumps(result, indent=1))
    if not result["faces"]:
        err_console.print(f"no face found in {image} (detector: {result['detector']})")
        raise typer.Exit(1)
