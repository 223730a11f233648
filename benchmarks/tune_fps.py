"""Try Triton FPS splits x warps at B=8, N=50,000 -> 2,048 and check indices against the torch loop.

    cd benchmarks && PYTHONPATH=../src:. python tune_fps.py
"""

import json

import torch
from bench_pointops import timeit

from ws3dvg.ops import pointops as ops
from ws3dvg.ops import pointops_triton as pt

dev = torch.device("cuda")
xyz = (torch.rand(8, 50_000, 3, generator=torch.Generator().manual_seed(0)) * torch.tensor([8.0, 8.0, 3.0])).to(dev)
ref = ops.furthest_point_sample_torch(xyz, 2048)
res = {"default_splits": pt.split_count(8, 50_000)}
for splits in (1, 4, 8, 13, 16):
    for warps in (4, 8, 16):
        if splits == 1 and warps < 16:
            continue
        name = f"s{splits}_w{warps}"
        got = pt.furthest_point_sample(xyz, 2048, splits, warps)
        res[name] = {"equal": bool(torch.equal(got, ref)),
                     "ms": round(timeit(lambda: pt.furthest_point_sample(xyz, 2048, splits, warps), dev, 10), 2)}
        print(name, res[name], flush=True)
small = torch.rand(3, 500, 3, generator=torch.Generator().manual_seed(1)).to(dev)
res["small_equal"] = bool(torch.equal(pt.furthest_point_sample(small, 64, 2), ops.furthest_point_sample_torch(small, 64)))
print(json.dumps(res, indent=1))
