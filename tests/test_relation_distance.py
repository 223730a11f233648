"""The relation encoder's distance bias (`distill.relation_distance_bias`): it starts as the authors'
attention, and a large learned scale makes each proposal attend to what is near it."""

import torch

from ws3dvg.models.grounding import RelationEncoder


def _inputs(p=5, d=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    centre = torch.rand(2, p, 3, generator=g) * 4
    corners = centre[:, :, None] + 0.2 * (torch.rand(2, p, 8, 3, generator=g) - 0.5)
    return torch.randn(2, p, d, generator=g), corners, torch.ones(2, p, dtype=torch.bool)


def _encoders():
    torch.manual_seed(0)
    plain = RelationEncoder(12, 16, heads=4).eval()
    torch.manual_seed(0)
    biased = RelationEncoder(12, 16, heads=4, distance_bias=True).eval()
    return plain, biased


def test_distance_bias_starts_as_the_authors_attention():
    plain, biased = _encoders()
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(),
                                                  [v for k, v in biased.state_dict().items() if k != "distance_scale"]))
    features, corners, mask = _inputs()
    torch.testing.assert_close(biased(features, corners, mask), plain(features, corners, mask))


def test_a_large_distance_scale_makes_far_proposals_irrelevant():
    """Proposal 4 moves far away and changes its feature: with the authors' attention every other proposal's
    output changes; with a large positive scale each proposal attends to itself and its near neighbours only."""
    plain, biased = _encoders()
    with torch.no_grad():
        biased.distance_scale.fill_(30.0)
    features, corners, mask = _inputs()
    moved_f, moved_c = features.clone(), corners.clone()
    moved_f[:, 4] += 3.0
    moved_c[:, 4] += 50.0
    for encoder, changes in ((plain, True), (biased, False)):
        before = encoder(features, corners, mask)[:, :4]
        after = encoder(moved_f, moved_c, mask)[:, :4]
        assert torch.allclose(before, after, atol=1e-4) is not changes


def _grounding_cfg():
    return {"hidden": 16, "embedding_dim": 8, "word_dropout": 0.0}


def test_the_teacher_departure_gives_teacher_and_student_the_bias_and_starts_as_the_authors():
    """`teacher.departures.relation_distance_bias`: the teacher's relation encoder has the bias (zero, so its
    numbers are the authors' at the start), and a student built from that recipe has it too, so the teacher's
    encoder loads into it whole."""
    from ws3dvg.grounding.recipe import Recipe
    from ws3dvg.grounding.student import init_from_teacher
    from ws3dvg.models.grounding import Student, Teacher

    torch.manual_seed(0)
    plain = Teacher(20, 12, _grounding_cfg(), joint_student=False)
    torch.manual_seed(0)
    biased = Teacher(20, 12, _grounding_cfg(), joint_student=False, relation_distance_bias=True)
    assert biased.relation.distance_scale is not None and plain.relation.distance_scale is None
    features, corners, mask = _inputs()
    torch.testing.assert_close(biased.relation.eval()(features, corners, mask), plain.relation.eval()(features, corners, mask))

    recipe = Recipe(relation_distance_bias=True).to_dict()
    student = Student(20, 12, dict(_grounding_cfg(), recipe=recipe))
    assert student.relation.distance_scale is not None
    with torch.no_grad():
        biased.relation.distance_scale.fill_(0.5)
    init_from_teacher(student, biased.state_dict())
    torch.testing.assert_close(student.relation.distance_scale, biased.relation.distance_scale)
    assert Student(20, 12, dict(_grounding_cfg(), recipe=Recipe().to_dict())).relation.distance_scale is None
