import sys

import numpy as np
from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from probe_features import attribute_probes  # noqa: E402


def _objects(n, rng):
    """Doors, open or closed, and a material: the shape is written only into the class scores (a classifier that
    reads the points is surer of an open door), the material only into the pooled feature; the box part (colour,
    size, centre) is noise."""
    shape = rng.choice(["open", "closed"], n)
    material = rng.choice(["plain", "striped", "checkered"], n)
    scores = rng.normal(0, 0.01, (n, 18))
    scores[:, 3] += 0.5 + 0.4 * (shape == "open")
    x = rng.normal(0, 0.01, (n, 8))
    x[:, 0] += material == "striped"
    x[:, 1] += material == "checkered"
    return {"class_scores": scores, "box_colour": rng.uniform(0, 1, (n, 3)), "box_size": rng.uniform(0.5, 2, (n, 3)),
            "box_center": rng.uniform(-3, 3, (n, 3)), "features": x, "name": np.array(["door"] * n),
            "shape": shape, "material": material}


def test_the_summarys_box_part_and_class_scores_are_probed_apart():
    rng = np.random.default_rng(0)
    out = attribute_probes(_objects(400, rng), _objects(200, rng))
    door, material = out["shape of door"], out["material"]
    assert door["summary_class_scores"] == 1.0 and door["summary"] == 1.0
    assert door["summary_box"] < door["chance"] + 0.1
    assert material["features"] == 1.0 and material["summary_box"] < material["chance"] + 0.1
    assert set(door) == {"val_objects", "chance", "summary", "summary_box", "summary_class_scores", "features"}


def test_attributes_only_needs_no_scene_points(tmp_path):
    """An unpacked run_cache tree has the proposals and the world's object table, not the scenes' points."""
    import h5py
    import pandas as pd

    from probe_features import load, read_objects
    rng = np.random.default_rng(1)
    with h5py.File(tmp_path / "val.h5", "w") as h5:
        g = h5.create_group("scene0000_00")
        g["gt_instance"] = np.array([1, 2])  # objectId + 1
        for k, width in (("features", 8), ("box_colour", 3), ("class_scores", 18), ("size", 3), ("center", 3)):
            g[k] = rng.normal(size=(2, width)).astype(np.float32)
    pd.DataFrame({"scene_id": ["scene0000_00"] * 2, "object_id": [0, 1], "name": ["door", "chair"],
                  "shape": ["open", ""], "material": ["plain", "striped"]}).to_csv(tmp_path / "o.csv", index=False)
    rows = load(str(tmp_path / "val.h5"), None, read_objects(str(tmp_path / "o.csv")))
    assert list(rows["name"]) == ["door", "chair"] and list(rows["material"]) == ["plain", "striped"]
    assert rows["box_size"].shape == (2, 3) and "class" not in rows
