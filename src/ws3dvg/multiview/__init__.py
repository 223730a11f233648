"""Multiview features: ENet trained on the frames' label images, its features projected onto the points."""
