"""Each point op against a brute-force reference on random inputs (CPU; CUDA too when present)."""

import numpy as np
import pytest
import torch

from ws3dvg.ops import pointops as ops

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def fps_brute(xyz, npoint):
    out = []
    for cloud in xyz:
        chosen = [0]
        d = np.full(len(cloud), np.inf)
        for _ in range(npoint - 1):
            diff = cloud - cloud[chosen[-1]]
            d = np.minimum(d, diff[:, 0] * diff[:, 0] + diff[:, 1] * diff[:, 1] + diff[:, 2] * diff[:, 2])
            chosen.append(int(np.argmax(d)))
        out.append(chosen)
    return np.array(out)


def ball_query_brute(radius, nsample, xyz, new_xyz):
    out = np.zeros(new_xyz.shape[:2] + (nsample,), np.int64)
    for b in range(len(xyz)):
        for m, q in enumerate(new_xyz[b]):
            diff = xyz[b] - q
            inside = np.flatnonzero(diff[:, 0] * diff[:, 0] + diff[:, 1] * diff[:, 1] + diff[:, 2] * diff[:, 2]
                                    < radius * radius)[:nsample]
            if len(inside):
                out[b, m, :] = inside[0]
                out[b, m, : len(inside)] = inside
    return out


@pytest.mark.parametrize("device", DEVICES)
def test_fps(device):
    xyz = torch.rand(3, 500, 3, generator=torch.Generator().manual_seed(0))
    got = ops.furthest_point_sample(xyz.to(device), 64).cpu().numpy()
    np.testing.assert_array_equal(got, fps_brute(xyz.numpy(), 64))
    np.testing.assert_array_equal(ops.furthest_point_sample_torch(xyz.to(device), 64).cpu().numpy(), got)


def test_fps_hand_case():
    xyz = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [5, 0, 0], [2, 0, 0]]])
    assert ops.furthest_point_sample(xyz, 3).tolist() == [[0, 2, 3]]


@pytest.mark.parametrize("device", DEVICES)
def test_ball_query(device):
    g = torch.Generator().manual_seed(1)
    xyz = torch.rand(2, 300, 3, generator=g)
    new_xyz = torch.cat([xyz[:, :20], torch.full((2, 2, 3), 5.0)], 1)  # two queries with no neighbour
    got = ops.ball_query(0.2, 16, xyz.to(device), new_xyz.to(device)).cpu().numpy()
    np.testing.assert_array_equal(got, ball_query_brute(0.2, 16, xyz.numpy(), new_xyz.numpy()))
    assert (got[:, -2:] == 0).all()


def test_ball_query_more_samples_than_points():
    xyz = torch.tensor([[[0.0, 0, 0], [0.1, 0, 0]]])
    assert ops.ball_query(1.0, 4, xyz, xyz[:, :1]).tolist() == [[[0, 1, 0, 0]]]


@pytest.mark.parametrize("device", DEVICES)
def test_group_and_gather(device):
    feats = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(2, 3, 5).to(device)
    idx = torch.tensor([[[0, 4], [2, 2]], [[1, 3], [0, 0]]], device=device)
    g = ops.group(feats, idx)
    assert g.shape == (2, 3, 2, 2)
    for b in range(2):
        for m in range(2):
            for k in range(2):
                assert torch.equal(g[b, :, m, k], feats[b, :, idx[b, m, k]])
    assert torch.equal(ops.gather_points(feats, idx[:, :, 0]), g[:, :, :, 0])


@pytest.mark.parametrize("device", DEVICES)
def test_three_nn_interpolate(device):
    g = torch.Generator().manual_seed(2)
    unknown, known = torch.rand(2, 50, 3, generator=g), torch.rand(2, 20, 3, generator=g)
    feats = torch.rand(2, 4, 20, generator=g)
    dist, idx = ops.three_nn(unknown.to(device), known.to(device))
    d_all = torch.cdist(unknown.double(), known.double())
    ref_d, ref_i = d_all.sort(-1)
    np.testing.assert_array_equal(idx.cpu().numpy(), ref_i[..., :3].numpy())
    np.testing.assert_allclose(dist.cpu().numpy(), ref_d[..., :3].numpy(), atol=1e-5)
    w = ops.inverse_distance_weights(dist)
    out = ops.three_interpolate(feats.to(device), idx, w).cpu()
    ref = torch.einsum("bcnk,bnk->bcn", torch.stack([feats[b][:, ref_i[b, :, :3]] for b in range(2)]), w.cpu())
    np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=1e-5)
    assert torch.allclose(w.sum(-1), torch.ones(2, 50, device=device))
