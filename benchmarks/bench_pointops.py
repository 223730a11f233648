"""Point-op benchmark at ScanNet sizes: B=8 clouds of N=50,000 points -> 2,048 samples.

    PYTHONPATH=src python benchmarks/bench_pointops.py [--device cuda] [--json out.json]

Times with CUDA events after warm-up, median of repeats. Also checks that the Triton FPS
returns the same indices as the torch loop.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from ws3dvg.ops import pointops as ops


def timeit(fn, device, repeats=10, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--points", type=int, default=50_000)
    ap.add_argument("--samples", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--json")
    args = ap.parse_args()
    dev = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    xyz = (torch.rand(args.batch, args.points, 3, generator=g) * torch.tensor([8.0, 8.0, 3.0])).to(dev)
    feats = torch.rand(args.batch, 128, args.points, generator=g).to(dev)
    res = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
           "torch": torch.__version__, "B": args.batch, "N": args.points, "M": args.samples}
    rows = {}
    rows["fps_torch_loop"] = timeit(lambda: ops.furthest_point_sample_torch(xyz, args.samples), dev, args.repeats)
    if dev.type == "cuda":
        from ws3dvg.ops import pointops_triton

        if pointops_triton.available():
            ref = ops.furthest_point_sample_torch(xyz, args.samples)
            tri = pointops_triton.furthest_point_sample(xyz, args.samples)
            res["fps_triton_equal_to_torch"] = bool(torch.equal(ref, tri))
            rows["fps_triton"] = timeit(lambda: pointops_triton.furthest_point_sample(xyz, args.samples), dev,
                                        args.repeats)
    idx = ops.furthest_point_sample(xyz, args.samples)
    new_xyz = xyz.gather(1, idx.unsqueeze(-1).expand(-1, -1, 3))
    rows["ball_query_r0.2_k64"] = timeit(lambda: ops.ball_query(0.2, 64, xyz, new_xyz), dev, args.repeats)
    bq = ops.ball_query(0.2, 64, xyz, new_xyz)
    rows["group_128ch_k64"] = timeit(lambda: ops.group(feats, bq), dev, args.repeats)
    rows["three_nn_interpolate_50k_from_2048"] = timeit(
        lambda: ops.three_interpolate(feats[:, :, : args.samples], ops.three_nn(xyz, new_xyz)[1],
                                      ops.inverse_distance_weights(ops.three_nn(xyz, new_xyz)[0])), dev, args.repeats)
    res["median_ms"] = {k: round(v, 2) for k, v in rows.items()}
    print(json.dumps(res, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
