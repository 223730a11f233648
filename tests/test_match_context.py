"""The match head's context layers (`distill.match_context_layers`): with none, each proposal is scored from its
own feature and the sentence alone (the authors' head); with them, one candidate's score depends on the others,
padding proposals change nothing, and a comparison the authors' head cannot express is learnt."""

import torch

from ws3dvg.models.grounding import MatchHead


def _inputs(p=6, h=16, length=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    proposal = torch.randn(2, p, h, generator=g)
    word = torch.randn(2, 3, length, h, generator=g)
    word_mask = torch.ones(2, 3, length, dtype=torch.bool)
    word_mask[:, :, -1] = False
    prop_mask = torch.ones(2, p, dtype=torch.bool)
    corners = torch.rand(2, p, 8, 3, generator=g)
    return proposal, word, word_mask, prop_mask, corners


def _head(layers, h=16):
    torch.manual_seed(0)
    return MatchHead(h, heads=4, context_layers=layers).eval()


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

    accuracy = {}
    for layers in (0, 2):
        torch.manual_seed(0)
        head = MatchHead(16, heads=4, context_layers=layers)
        opt = torch.optim.Adam(head.parameters(), lr=3e-3)
        g = torch.Generator().manual_seed(0)
        for _ in range(300):
            inputs, target = batch(g)
            loss = torch.nn.functional.cross_entropy(head(*inputs)[:, 0], target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        head.eval()
        inputs, target = batch(torch.Generator().manual_seed(1), n=512)
        with torch.no_grad():
            accuracy[layers] = (head(*inputs)[:, 0].argmax(-1) == target).float().mean().item()
    assert accuracy[0] < 0.3 and accuracy[2] > 0.8, accuracy
