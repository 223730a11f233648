import sys

import numpy as np
from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from probe_spectrum import spectrum  # noqa: E402


def _objects(n, rng):
    """Two classes; material (3 kinds) written along two axes with a tenth of the class axis's spread, colour along
    another; 254 channels of small noise."""
    name = rng.choice(["chair", "table"], n)
    material = rng.choice(["wood", "metal", "fabric"], n)
    cls = (name == "table").astype(int)
    colour = rng.uniform(0, 1, (n, 3))
    x = rng.normal(0, 0.01, (n, 256))
    x[:, 0] += 10.0 * cls
    x[:, 1] += 1.0 * (material == "metal")
    x[:, 2] += 1.0 * (material == "fabric")
    x[:, 3:6] += 3.0 * colour
    return {"features": x, "name": name, "material": material, "class": cls, "colour": colour,
            "size": rng.uniform(0.5, 2.0, (n, 3))}  # what probe_features.load gives beside them


def test_spectrum_finds_the_band_that_carries_material():
    rng = np.random.default_rng(0)
    out = spectrum(_objects(600, rng), _objects(300, rng), ks=(1, 8))
    # the class axis is component 1: material is not read from it, and is read once the first 8 are in
    assert out["top_components"][1]["material"] < 0.5
    assert out["top_components"][8]["material"] > 0.95 and out["top_components"][8]["colour_r2"] > 0.9
    assert out["bands"]["1-8"]["material_energy_share"] > 0.99
    assert abs(sum(b["variance_share"] for b in out["bands"].values()) - 1) < 1e-9
