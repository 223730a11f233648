"""Point and box operations in plain tensors (no compiled extensions), as PyTorch3D's `ops`.

`pointops`: PointNet++'s sampling, grouping and interpolation (furthest point sampling through
Triton on CUDA when available); `geometry`: transforms, normals, per-instance boxes, box IoU.
"""

from .geometry import box_corners, box_iou, instance_boxes, oriented_box_iou, transform_points, vertex_normals
from .pointops import (
                       ball_query,
                       furthest_point_sample,
                       gather_points,
                       group,
                       inverse_distance_weights,
                       three_interpolate,
                       three_nn,
)

__all__ = ["ball_query", "box_corners", "box_iou", "furthest_point_sample", "gather_points", "group",
           "instance_boxes", "inverse_distance_weights", "oriented_box_iou", "three_interpolate", "three_nn",
           "transform_points", "vertex_normals"]
