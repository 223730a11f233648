"""The match head's context layers (`distill.match_context_layers`): with none, each proposal is scored from its
own feature and the sentence alone (the authors' head); with them, one candidate's score depends on the others,
padding proposals change nothing, and a comparison the authors' head cannot express is learnt."""

import pytest
import torch

from ws3dvg.models.grounding import AttentionBlock, MatchHead, SpatialAttentionBlock, pair_geometry


def _inputs(p=6, h=16, length=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    proposal = torch.randn(2, p, h, generator=g)
    word = torch.randn(2, 3, length, h, generator=g)
    word_mask = torch.ones(2, 3, length, dtype=torch.bool)
    word_mask[:, :, -1] = False
    prop_mask = torch.ones(2, p, dtype=torch.bool)
    corners = torch.rand(2, p, 8, 3, generator=g)
    return proposal, word, word_mask, prop_mask, corners


def _head(layers, h=16, geometry="box"):
    """A head whose context layers have trained a little (they start as the identity: see below)."""
    torch.manual_seed(0)
    head = MatchHead(h, heads=4, context_layers=layers, context_geometry=geometry)
    for name, p in head.named_parameters():
        if name.startswith("context"):
            p.data.add_(0.1 * torch.randn_like(p))
    return head.eval()


@pytest.mark.parametrize("geometry", ["box", "pairwise"])
def test_context_layers_start_as_the_authors_head(geometry):
    """Zero-initialised, the context layers leave every score as the authors' head gives it (a student that takes
    the teacher's jointly trained head, the authors' schedule, starts from exactly that head)."""
    torch.manual_seed(0)
    authors = MatchHead(16, heads=4).eval()
    ours = MatchHead(16, heads=4, context_layers=2, context_geometry=geometry).eval()
    missing, unexpected = ours.load_state_dict(authors.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("context") for k in missing)
    inputs = _inputs()
    torch.testing.assert_close(ours(*inputs), authors(*inputs), rtol=1e-5, atol=1e-5)


def _toy_accuracy(batch, layers: int, geometry: str = "box", steps: int = 300) -> float:
    """Train a head on a toy task's batches (`batch(generator, n=...)` -> (inputs, target)), then its accuracy on
    512 fresh rows."""
    torch.manual_seed(0)
    head = MatchHead(16, heads=4, context_layers=layers, context_geometry=geometry)
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        inputs, target = batch(g)
        loss = torch.nn.functional.cross_entropy(head(*inputs)[:, 0], target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    head.eval()
    inputs, target = batch(torch.Generator().manual_seed(1), n=512)
    with torch.no_grad():
        return (head(*inputs)[:, 0].argmax(-1) == target).float().mean().item()


def test_without_context_each_proposal_is_scored_alone():
    head = _head(0)
    proposal, word, word_mask, prop_mask, corners = _inputs()
    before = head(proposal, word, word_mask, prop_mask, corners)
    proposal[:, 0] += 5.0
    corners[:, 0] += 1.0
    after = head(proposal, word, word_mask, prop_mask, corners)
    torch.testing.assert_close(after[..., 1:], before[..., 1:])
    assert not torch.allclose(after[..., 0], before[..., 0])


def test_with_context_a_score_depends_on_the_other_proposals_and_their_places():
    head = _head(2)
    proposal, word, word_mask, prop_mask, corners = _inputs()
    before = head(proposal, word, word_mask, prop_mask, corners)
    moved = corners.clone()
    moved[:, 0] += 1.0  # only proposal 0 moves
    after = head(proposal, word, word_mask, prop_mask, moved)
    assert not torch.allclose(after[..., 1:], before[..., 1:])


def test_padding_proposals_change_no_real_score():
    head = _head(2)
    proposal, word, word_mask, prop_mask, corners = _inputs(p=4)
    scores = head(proposal, word, word_mask, prop_mask, corners)
    pad_p, _, _, _, pad_c = _inputs(p=3, seed=1)
    padded = head(torch.cat([proposal, 100 * pad_p], 1), word, word_mask,
                  torch.cat([prop_mask, torch.zeros(2, 3, dtype=torch.bool)], 1), torch.cat([corners, pad_c], 1))
    torch.testing.assert_close(padded[..., :4], scores, rtol=1e-5, atol=1e-5)
    assert torch.isinf(padded[..., 4:]).all()


def test_context_layers_learn_a_comparison_the_authors_head_cannot():
    """Toy task: every proposal has the same feature; the sentence names a direction (x or y) and the target is
    the proposal farthest along it. Alone, a proposal cannot know it is the farthest: the authors' head stays
    near chance (1/6), two context layers learn it."""
    def batch(g, n=32, p=6, h=16):
        centre = torch.rand(n, p, 3, generator=g)
        corners = centre[:, :, None] + 0.05 * (torch.rand(n, p, 8, 3, generator=g) - 0.5)
        axis = torch.randint(0, 2, (n,), generator=g)
        word = torch.zeros(n, 1, 2, h)
        word[torch.arange(n), 0, 0, axis] = 1.0  # word 0 says which axis; word 1 is a constant "farthest"
        word[:, 0, 1, 2] = 1.0
        target = centre[torch.arange(n), :, axis].argmax(-1)
        return (torch.ones(n, p, h), word, torch.ones(n, 1, 2, dtype=torch.bool),
                torch.ones(n, p, dtype=torch.bool), corners), target

    accuracy = {layers: _toy_accuracy(batch, layers) for layers in (0, 2)}
    assert accuracy[0] < 0.3 and accuracy[2] > 0.8, accuracy


# ---- pairwise geometry (`distill.match_context_geometry: pairwise`)

def test_pair_geometry_is_the_offset_and_the_distances_between_centres():
    corners = torch.zeros(1, 2, 8, 3)
    corners[0, 1] += torch.tensor([3.0, 4.0, 12.0])  # both boxes are points; the second sits at (3, 4, 12)
    pair = pair_geometry(corners)
    torch.testing.assert_close(pair[0, 0, 1], torch.tensor([3.0, 4.0, 12.0, 13.0, 5.0]))
    torch.testing.assert_close(pair[0, 1, 0], torch.tensor([-3.0, -4.0, -12.0, 13.0, 5.0]))
    assert (pair[0, 0, 0] == 0).all()


def test_spatial_attention_without_geometry_weights_is_the_plain_attention_block():
    """Its geometry weights start at zero: until they learn, it is the authors' attention block."""
    torch.manual_seed(0)
    spatial, plain = SpatialAttentionBlock(16, 4).eval(), AttentionBlock(16, 4).eval()
    plain.attention.load_state_dict(spatial.attention.state_dict())
    plain.layer_norm.load_state_dict(spatial.layer_norm.state_dict())
    x = torch.randn(3, 5, 16)
    pad = torch.zeros(3, 5, dtype=torch.bool)
    pad[1, 3:] = True
    pair = pair_geometry(torch.rand(3, 5, 8, 3))
    torch.testing.assert_close(spatial(x, pair, torch.randn(3, 16), pad), plain(x, x, x, pad), rtol=1e-5, atol=1e-5)


def test_pairwise_padding_proposals_change_no_real_score():
    head = _head(2, geometry="pairwise")
    proposal, word, word_mask, prop_mask, corners = _inputs(p=4)
    scores = head(proposal, word, word_mask, prop_mask, corners)
    pad_p, _, _, _, pad_c = _inputs(p=3, seed=1)
    padded = head(torch.cat([proposal, 100 * pad_p], 1), word, word_mask,
                  torch.cat([prop_mask, torch.zeros(2, 3, dtype=torch.bool)], 1), torch.cat([corners, 5 + pad_c], 1))
    torch.testing.assert_close(padded[..., :4], scores, rtol=1e-4, atol=1e-4)


def test_an_unknown_geometry_is_refused():
    with pytest.raises(ValueError, match="context_geometry"):
        MatchHead(16, heads=4, context_layers=1, context_geometry="polar")


def test_pairwise_layers_learn_closest_and_farthest_from_a_named_anchor():
    """Toy task as "the chair closest to the door": four candidates of one class and four anchors of distinct
    classes; word 0 names the anchor's class, word 1 says closest or farthest. The authors' head and the box-
    embedding context layers stay near chance (1/4); one pairwise layer picks the anchor by its word and hands
    each candidate its distance to it."""
    def batch(g, n=32, p=8, h=16, cand=4):
        centre = torch.rand(n, p, 3, generator=g) * 4
        corners = centre[:, :, None] + 0.1 * (torch.rand(n, p, 8, 3, generator=g) - 0.5)
        cls = torch.zeros(n, p, dtype=torch.long)
        cls[:, cand:] = torch.arange(1, p - cand + 1)
        rows = torch.arange(n)
        anchor = torch.randint(cand, p, (n,), generator=g)
        far = torch.randint(0, 2, (n,), generator=g)
        word = torch.zeros(n, 1, 2, h)
        word[rows, 0, 0, cls[rows, anchor]] = 1.0
        word[rows, 0, 1, 12 + far] = 1.0
        d = (centre[:, :cand] - centre[rows, anchor][:, None]).norm(dim=-1)
        target = torch.where(far == 1, d.argmax(-1), d.argmin(-1))
        return (torch.nn.functional.one_hot(cls, h).float(), word, torch.ones(n, 1, 2, dtype=torch.bool),
                torch.ones(n, p, dtype=torch.bool), corners), target

    accuracy = {(layers, geometry): _toy_accuracy(batch, layers, geometry)
                for layers, geometry in ((0, "box"), (2, "box"), (1, "pairwise"))}
    assert accuracy[(0, "box")] < 0.35 and accuracy[(2, "box")] < 0.35, accuracy
    assert accuracy[(1, "pairwise")] > 0.85, accuracy
