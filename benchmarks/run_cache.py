"""Carry a GPU run's upstream and trained teachers from one device machine to the next.

A device machine comes bare, so every world-2 run at ScanRefer's size rebuilt the upstream (synthesize to
cache_detector, about 200 s of an H100) and retrained the teacher it compares against (about 480 s) before the
first variant could start. What the grounding stages and their readouts read is far smaller than what built it:
the upstream's params, the language table, the proposal caches, the boxes, the world's word vectors and its
object and description tables, and per trained variant its params, teacher weights and knowledge. `pack` writes
these as an xz tarball cut into pieces that fit what a device call returns (16 MiB a file) and a manifest;
`unpack` checks and restores them in a fresh tree, each variant's folder linked to the data as run_variants.py
links it. `world_v2_scale_gpu.sh` with UPSTREAM_CACHE=DIR then starts at the grounding stages over the very same
proposals, and `teacher_from=NAME` finds NAME's teacher, so a later run is paired with the one that packed it.

    python benchmarks/run_cache.py pack OUT_DIR [--variants own ...] [--piece-mib 15]   (tree root, after a run)
    python benchmarks/run_cache.py unpack IN_DIR                                       (tree root of a fresh tree)
    python benchmarks/run_cache.py boxes data/preprocessed/scannet.h5 boxes.h5         (the boxes alone)

What stays behind: the scenes' points (data/preprocessed/scannet.h5, 250 MB at that size), so the readouts that
need them (probe_features.py, probe_models.py) do not run over an unpacked tree; evaluation reads boxes only.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import lzma
import sys
import tarfile
from pathlib import Path

import h5py
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from overlay_params import merge  # noqa: E402

from ws3dvg.engine.atomic import atomic_file, write_json  # noqa: E402

UPSTREAM = ["params.yaml", "boxes.h5", "data/language", "data/proposals", "data/synthetic/glove/word_vectors.txt",
            "data/synthetic/meta/synth_descriptions.csv", "data/synthetic/meta/synth_objects.csv"]
REQUIRED = ["params.yaml", "boxes.h5", "data/language", "data/proposals"]
VARIANT = ["params.yaml", "models/teacher", "data/teacher"]
RESUME = {"last.pt"}  # a stage's resume checkpoint (weights and optimiser state): no later stage reads it
MANIFEST = "cache.json"
PIECE = "cache.tar.xz.{:02d}"


def write_boxes(preprocessed: Path, out: Path) -> None:
    """The boxes alone of a preprocessed scenes file (what evaluation and the targets read), same layout."""
    with atomic_file(out) as tmp, h5py.File(preprocessed, "r") as src, h5py.File(tmp, "w") as dst:
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        for scene in sorted(src):
            g = dst.create_group(scene)
            for k in ("boxes", "box_class18"):
                g.create_dataset(k, data=src[scene][k][()])


def members(root: Path, variants: list[str]) -> list[tuple[Path, str]]:
    """(file on disk, name in the archive) for everything packed; a variant's linked teacher is read through its
    link (a teacher_from variant's folder holds links to its source's)."""
    missing = [p for p in REQUIRED if not (root / p).exists()]
    for v in variants:
        missing += [f"variants/{v}/{p}" for p in VARIANT if not (root / "variants" / v / p).exists()]
    if missing:
        raise SystemExit(f"run_cache pack: {root.resolve()}: missing {', '.join(missing)} (run the upstream, and each "
                         "named variant, in this tree first)")
    out = []
    for rel in UPSTREAM + [f"variants/{v}/{p}" for v in variants for p in VARIANT]:
        path = root / rel
        if path.is_dir():
            out += [(f, str(Path(rel) / f.relative_to(path))) for f in sorted(path.rglob("*"))
                    if f.is_file() and f.name not in RESUME]
        elif path.is_file():
            out.append((path, rel))
    return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack(root: Path, out: Path, variants: list[str], piece_mib: float) -> dict:
    """Write OUT/cache.tar.xz.NN pieces and OUT/cache.json (pieces with their sha256, files, variants)."""
    if not (root / "boxes.h5").exists():
        write_boxes(root / "data" / "preprocessed" / "scannet.h5", root / "boxes.h5")
    files = members(root, variants)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, name in files:
            with open(path, "rb") as f:  # from the open file: a file reached through a link goes in as a file
                info = tar.gettarinfo(fileobj=f, arcname=name)
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""  # the same bytes each time
                info.mode = 0o644
                tar.addfile(info, f)
    blob = lzma.compress(raw.getvalue(), preset=6)
    size = int(piece_mib * 2**20)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("cache.tar.xz.*"):
        old.unlink()
    pieces = []
    for i in range(0, max(len(blob), 1), size):
        name = PIECE.format(len(pieces))
        with atomic_file(out / name) as tmp:
            tmp.write_bytes(blob[i:i + size])
        pieces.append({"name": name, "bytes": len(blob[i:i + size]), "sha256": sha256(blob[i:i + size])})
    manifest = {"pieces": pieces, "variants": variants, "files": len(files), "tar_bytes": raw.tell(),
                "xz_bytes": len(blob)}
    write_json(out / MANIFEST, manifest, indent=1)  # last: a pack cut short has no manifest to unpack by
    return manifest


def missing_keys(defaults: dict, packed: dict, prefix: str = "") -> list[str]:
    """The dotted keys of `defaults` that `packed` lacks (the highest missing one of each branch)."""
    out = []
    for k, v in defaults.items():
        if k not in packed:
            out.append(prefix + k)
        elif isinstance(v, dict) and isinstance(packed[k], dict):
            out += missing_keys(v, packed[k], f"{prefix}{k}.")
    return out


def with_defaults(defaults: dict, packed: dict) -> tuple[dict, list[str]]:
    """The packed params merged over `defaults` (this tree's params.yaml, which names every key the code asks for;
    overlay_params.merge), and the dotted keys so added. A pack made before a param existed then runs as the params
    of its day did: a new key's default is the behaviour from before it (a departure's is off)."""
    return merge(defaults, packed), missing_keys(defaults, packed)


def unpack(src: Path, root: Path) -> dict:
    """Check every piece against the manifest, restore the files under root, give the restored params the keys this
    code added since the pack (their defaults: `with_defaults`), point each variant's params at the boxes here, and
    mark the upstream done."""
    try:
        manifest = json.loads((src / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"run_cache unpack: {src / MANIFEST}: not readable ({e})") from e
    blob = bytearray()
    for p in manifest["pieces"]:
        path = src / p["name"]
        if not path.exists():
            raise SystemExit(f"run_cache unpack: {path}: missing ({len(manifest['pieces'])} pieces expected)")
        data = path.read_bytes()
        if sha256(data) != p["sha256"]:
            raise SystemExit(f"run_cache unpack: {path}: its sha256 differs from {src / MANIFEST}'s "
                             "(damaged or from another pack)")
        blob += data
    here = root / "params.yaml"
    defaults = yaml.safe_load(here.read_text()) if here.exists() else {}  # before the pack's replaces it
    with tarfile.open(fileobj=io.BytesIO(lzma.decompress(bytes(blob))), mode="r") as tar:
        tar.extractall(root, filter="data")
    boxes = str((root / "boxes.h5").resolve())
    added = set()
    for params in [here] + [root / "variants" / v / "params.yaml" for v in manifest["variants"]]:
        p, new = with_defaults(defaults, yaml.safe_load(params.read_text()))
        added.update(new)
        if params != here:
            p["data"]["preprocessed"] = boxes  # the packing tree's scannet.h5 is not here
        elif not new:
            continue  # the upstream's params as packed
        params.write_text(yaml.safe_dump(p, sort_keys=False))
    if added:
        print(f"params: {', '.join(sorted(added))} not in the pack, given this tree's defaults")
    for v in manifest["variants"]:
        folder = root / "variants" / v
        for link in ("language", "proposals", "synthetic"):  # as run_variants.py links a variant's inputs
            target = root / "data" / link
            if target.exists() and not (folder / "data" / link).exists():
                (folder / "data" / link).symlink_to(target.resolve())
    (root / ".upstream_done").touch()
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("pack")
    p.add_argument("out", type=Path)
    p.add_argument("--variants", nargs="*", default=[])
    p.add_argument("--piece-mib", type=float, default=15.0)
    u = sub.add_parser("unpack")
    u.add_argument("src", type=Path)
    b = sub.add_parser("boxes")
    b.add_argument("preprocessed", type=Path)
    b.add_argument("out", type=Path)
    args = ap.parse_args()
    if args.verb == "pack":
        print(json.dumps(pack(Path("."), args.out, args.variants, args.piece_mib)))
    elif args.verb == "unpack":
        m = unpack(args.src, Path("."))
        variants = ", ".join(m["variants"]) or "-"
        print(f"unpacked {m['files']} files from {len(m['pieces'])} pieces; variants: {variants}")
    else:
        write_boxes(args.preprocessed, args.out)


if __name__ == "__main__":
    sys.exit(main())
