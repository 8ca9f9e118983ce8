"""The bench's check of an ``export --nme-budget`` artifact: its NME drop against torch fp32
measured again, here, in its own runtime, on the faces the budget was set on (the
checkpoint's validation split of the training list, recorded in the manifest), beside the
test-list drop the bench reports for every row. The budget is a promise about those faces;
the test list is the second opinion (on CUHK it ran 1.1-1.7x the validation drop for all
three int8 runtimes: docs/export.md)."""

from __future__ import annotations

from pathlib import Path

from ..export.manifest import read_manifest


def budget_artifacts(artifacts: list[Path]) -> list[tuple[Path, dict]]:
    """(folder, manifest) of every artifact exported with --nme-budget."""
    found = []
    for folder in artifacts:
        _, manifest = read_manifest(folder, verify=False)
        if manifest.get("nme_budget_pp") is not None:
            found.append((Path(folder), manifest))
    return found


def add_budget_checks(results: dict, artifacts: list[Path], data_dir: Path | None, progress=None) -> None:
    """``results["budget_checks"]``: one record per --nme-budget artifact, measured or with the
    reason it could not be (no torch-fp32 artifact beside it, no training list)."""
    chosen = budget_artifacts(artifacts)
    if not chosen:
        return
    from ..checkpoint import load_checkpoint
    from ..data.lists import read_list
    from ..export.quant_debug import validation_set
    from ..predictors.load import load_predictor

    reference = next((Path(a) for a in artifacts if read_manifest(a, verify=False)[1]["format"] == "torch"), None)
    checks, sets = [], {}
    for i, (folder, manifest) in enumerate(chosen):
        if progress:
            progress(f"budget check {folder.name}", i, len(chosen))
        recorded = manifest["nme_budget"]["validation"]
        check = {"artifact": folder.name, "budget_pp": manifest["nme_budget_pp"], "float_layers": len(manifest.get("float_layers", [])),
                 "export_drop_pp": recorded["drop_pp"], "list": recorded["list"], "faces": recorded["faces"]}
        train_list = Path(data_dir) / recorded["list"] if data_dir is not None else None
        if reference is None:
            check["not_checked"] = "no torch-fp32 artifact in the model folder (the fp32 reference and the checkpoint's split)"
        elif train_list is None or not train_list.is_file():
            check["not_checked"] = f"the training list {recorded['list']} is not in the data folder (--data or EDGEMARK_DATA)"
        else:
            if train_list not in sets:
                torch_fp32 = load_predictor(reference, threads=1)
                state = load_checkpoint(reference / read_manifest(reference, verify=False)[1]["model_file"])
                val = validation_set(read_list(train_list), state, torch_fp32.crop, torch_fp32.scheme.interocular)
                sets[train_list] = (val, val.nme(torch_fp32.predict_crops(val.crops), torch_fp32.crop.size))
            val, fp32_nme = sets[train_list]
            predictor = load_predictor(folder, threads=1)
            nme = val.nme(predictor.predict_crops(val.crops), predictor.crop.size)
            check.update(faces=len(val.crops), nme_fp32=fp32_nme, nme=nme, drop_pp=(nme - fp32_nme) * 100,
                         within=(nme - fp32_nme) * 100 <= manifest["nme_budget_pp"] + 1e-9, runtime=predictor.description)
        test_row = next((r for r in results.get("rows", []) if r["artifact"] == folder.name and r.get("nme_drop_pp") is not None), None)
        check["test_drop_pp"] = test_row["nme_drop_pp"] if test_row else None
        checks.append(check)
    results["budget_checks"] = checks


def budget_lines(results: dict) -> list[str]:
    """The budget table of results.md."""
    checks = results.get("budget_checks") or []
    if not checks:
        return []
    lines = ["", "NME budgets (`export --nme-budget`): each artifact's drop against torch fp32 measured again in this run, in "
                 "its runtime, on the validation faces the budget was set on; the test-list drop of the table above beside it.", "",
             "| artifact | float layers | budget pp | validation drop pp (export) | validation drop pp (here) | within | test-list drop pp |",
             "|---|---:|---:|---:|---:|---|---:|"]
    for c in checks:
        here = f"{c['drop_pp']:+.3f}" if c.get("drop_pp") is not None else "not checked"
        within = ("yes" if c["within"] else "**no**") if c.get("within") is not None else c.get("not_checked", "")
        test = f"{c['test_drop_pp']:+.3f}" if c.get("test_drop_pp") is not None else "n/a"
        lines.append(f"| {c['artifact']} | {c['float_layers']} | {c['budget_pp']} | {c['export_drop_pp']:+.3f} | {here} | {within} | {test} |")
    return lines
