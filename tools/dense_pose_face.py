"""Derive the generic 3D faces of the dense head pose from MediaPipe's face mesh (issue 33).

Input: the teacher's mesh of the 10,000 CUHK training faces (``edgemark data pseudo-label``:
runs/pseudo/trainImageList.mesh468.npy, (N, 468, 3); x, y in image pixels, z the mesh
model's depth on the same pixel scale, larger = farther from the camera, as the camera axes
of ``edgemark.head_pose``).

1. Generalised Procrustes (3-D similarity: rotation, scale, translation) of every mesh to
   their mean, three rounds.
2. The mean's frame: its 5 reference points (eye centres = mean of the six lid vertices,
   nose tip 4, mouth corners 61/291: ``MESH_POINTS["cuhk5"]``) rotated onto
   ``GENERIC_FACE_5`` (Kabsch), so a face at rest has the same zero pose for the 5-point
   and the dense solvers; each face's pose against that frame.
3. Near-frontal faces only (|yaw|, |pitch| < 10 degrees, from step 2's rotations):
   Procrustes again on them, their mean, put in step 2's frame, scaled to millimetres by
   the 3-D eye-centre distance = 64 mm (GENERIC_FACE_5's), origin at the nose tip.
4. The rigid iBUG points (``head_pose.RIGID_68``: names of the dense68/ibug68 schemes) of
   that mean shape by ``mesh_to_scheme(..., "ibug68")``; printed as the array literal
   ``head_pose.GENERIC_FACE_RIGID``. The whole 468-vertex mean (mm) is written to
   ``--mesh-out`` (the reference of benchmarks/dense-pose-2026-12-04).

    .venv/bin/python tools/dense_pose_face.py runs/pseudo/trainImageList.mesh468.npy \
        --mesh-out benchmarks/dense-pose-2026-12-04/mean_mesh468_mm.npy
"""

from __future__ import annotations

import argparse

import numpy as np

from edgemark.head_pose import GENERIC_FACE_5, RIGID_68, euler_angles
from edgemark.predictors.mediapipe_mesh import MESH_POINTS, mesh_to_scheme
from edgemark.scheme import load_scheme


def kabsch(a: np.ndarray, b: np.ndarray, scale: bool = True):
    """Similarity (s, R, t) with s * a @ R.T + t ~ b (a, b: (K, 3)), no reflection."""
    ma, mb = a.mean(0), b.mean(0)
    a0, b0 = a - ma, b - mb
    u, s, vt = np.linalg.svd(b0.T @ a0)
    d = np.sign(np.linalg.det(u @ vt))
    r = u @ np.diag([1, 1, d]) @ vt
    k = (s * [1, 1, d]).sum() / (a0 ** 2).sum() if scale else 1.0
    return k, r, mb - k * ma @ r.T


def procrustes(meshes: np.ndarray, rounds: int = 3):
    """Every mesh aligned to the mean (similarity), the mean, and each mesh's rotation."""
    ref = meshes[0] - meshes[0].mean(0)
    ref /= np.linalg.norm(ref)
    for _ in range(rounds):
        aligned, rotations = np.empty_like(meshes), np.empty((len(meshes), 3, 3))
        for i, m in enumerate(meshes):
            k, r, t = kabsch(m, ref)
            aligned[i], rotations[i] = k * m @ r.T + t, r
        ref = aligned.mean(0)
        ref -= ref.mean(0)
        ref /= np.linalg.norm(ref)
    return aligned, ref, rotations


def five_of(mesh: np.ndarray) -> np.ndarray:
    return mesh_to_scheme(mesh[None], "cuhk5")[0].astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mesh", help="(N, 468, 3) teacher mesh, e.g. runs/pseudo/trainImageList.mesh468.npy")
    parser.add_argument("--mesh-out", help="write the 468-vertex mean face (mm) here (.npy)")
    parser.add_argument("--max-angle", type=float, default=10.0, help="near-frontal: |yaw| and |pitch| below this")
    args = parser.parse_args()

    meshes = np.load(args.mesh).astype(np.float64)
    meshes = meshes[np.isfinite(meshes).all(axis=(1, 2))]
    _, mean, rotations = procrustes(meshes)
    # the mean's frame: its five onto GENERIC_FACE_5
    _, frame, _ = kabsch(five_of(mean), GENERIC_FACE_5)
    # face i = R_i.T (mean) up to scale/shift; in the canonical frame: face = R_i.T @ frame.T
    poses = np.array([euler_angles(r.T @ frame.T) for r in rotations])
    frontal = (np.abs(poses[:, 0]) < args.max_angle) & (np.abs(poses[:, 1]) < args.max_angle)
    print(f"{len(meshes)} faces, {frontal.sum()} near-frontal (|yaw|, |pitch| < {args.max_angle} deg)")

    _, mean, _ = procrustes(meshes[frontal])
    _, frame, _ = kabsch(five_of(mean), GENERIC_FACE_5)
    face = mean @ frame.T
    five = five_of(face)
    face = (face - five[2]) * 64.0 / np.linalg.norm(five[1] - five[0])
    five = five_of(face)
    print("the five of the mean mesh (mm) against GENERIC_FACE_5:")
    for p, g in zip(five, GENERIC_FACE_5):
        print(f"  {np.round(p, 1)}  {g}")
    if args.mesh_out:
        np.save(args.mesh_out, face.astype(np.float32))

    ibug = load_scheme("ibug68")
    points = mesh_to_scheme(face[None], "ibug68")[0]
    index = {n: i for i, n in enumerate(ibug.names)}
    print("GENERIC_FACE_RIGID = np.array([")
    for name in RIGID_68:
        x, y, z = points[index[name]]
        print(f"    [{x:.1f}, {y:.1f}, {z:.1f}],  # {name} (iBUG {index[name]})")
    print("])")
    assert MESH_POINTS["ibug68"][30] == (4,)


if __name__ == "__main__":
    main()
