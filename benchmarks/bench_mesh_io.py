"""ScanNet mesh I/O: `read_mesh` / `write_mesh` against plyfile's general reader and row-by-row writer.

    PYTHONPATH=src python benchmarks/bench_mesh_io.py [PLY] [--repeats 5] [--json out.json]

PLY defaults to a synthetic mesh of a real scan's size (81,369 vertices, 153,587 triangles, as ScanNet's
scene0000_00); pass a real `_vh_clean_2.ply` to time that. Median wall time of the repeats after one warm-up
each. Also checks that both readers give the same mesh and both writers the same bytes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from plyfile import PlyData, PlyElement

from ws3dvg.scannet.io import Mesh, read_mesh, write_mesh


def general_read(path: Path) -> Mesh:
    ply = PlyData.read(str(path))
    v = ply["vertex"].data
    return Mesh(np.stack([v["x"], v["y"], v["z"]], 1), np.stack([v["red"], v["green"], v["blue"]], 1),
                np.stack(ply["face"].data["vertex_indices"]).astype(np.int64))


def plyfile_mesh(mesh: Mesh, text: bool = False) -> PlyData:
    """The mesh as plyfile's general writer writes it (the face list property row by row); `text`: ASCII."""
    vert = np.empty(len(mesh.vertices), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"),
                                               ("green", "u1"), ("blue", "u1"), ("alpha", "u1")])
    vert["x"], vert["y"], vert["z"] = mesh.vertices.T
    vert["red"], vert["green"], vert["blue"] = mesh.colors.T
    vert["alpha"] = 255
    face = np.empty(len(mesh.faces), dtype=[("vertex_indices", "i4", (3,))])
    face["vertex_indices"] = mesh.faces
    return PlyData([PlyElement.describe(vert, "vertex"), PlyElement.describe(face, "face")], text=text,
                   byte_order="<")


def general_write(path: Path, mesh: Mesh) -> None:
    plyfile_mesh(mesh).write(str(path))


def timed(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ply", nargs="?")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp())
    if args.ply:
        src = Path(args.ply)
    else:
        rng = np.random.default_rng(0)
        src = work / "synthetic.ply"
        write_mesh(src, Mesh(rng.normal(size=(81369, 3)).astype(np.float32),
                             rng.integers(0, 256, (81369, 3), dtype=np.uint8), rng.integers(0, 81369, (153587, 3))))
    mesh = read_mesh(src)
    ref = general_read(src)
    same_mesh = all(np.array_equal(getattr(mesh, k), getattr(ref, k)) for k in ("vertices", "colors", "faces"))
    write_mesh(work / "ours.ply", mesh)
    general_write(work / "general.ply", mesh)
    same_bytes = (work / "ours.ply").read_bytes() == (work / "general.ply").read_bytes()
    out = {"ply": str(args.ply or "synthetic, a real scan's size"), "vertices": len(mesh.vertices),
           "faces": len(mesh.faces), "same_mesh": same_mesh, "same_bytes": same_bytes,
           "read_mesh_s": timed(lambda: read_mesh(src), args.repeats),
           "plyfile_general_read_s": timed(lambda: general_read(src), args.repeats),
           "write_mesh_s": timed(lambda: write_mesh(work / "ours.ply", mesh), args.repeats),
           "plyfile_general_write_s": timed(lambda: general_write(work / "general.ply", mesh), args.repeats)}
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
