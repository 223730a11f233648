"""Neural networks: detector (PointNet++ backbone, GroupFree-3D, VoteNet), ENet, grounding models."""
