"""Closest points on a triangle mesh (core.correspondence), used for LOD weights and correspondences."""

import numpy as np

from headforge.core.correspondence import closest_points_on_triangles

# a unit square in z = 0 as two triangles
VERTS = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float64)
TRIS = np.array([[0, 1, 2], [0, 2, 3]])


def _point(t, w, verts=VERTS, tris=TRIS):
    """The mesh point of triangle ``t`` at barycentrics ``w``."""
    return (verts[tris[t]] * w[:, :, None]).sum(1)


def test_points_above_the_mesh_project_straight_down():
    p = np.array([[0.7, 0.2, 0.5], [0.2, 0.7, -0.3]])
    t, w, d = closest_points_on_triangles(p, VERTS, TRIS, k=2)
    np.testing.assert_array_equal(t, [0, 1])
    np.testing.assert_allclose(w.sum(1), 1.0)
    assert (w >= -1e-12).all()
    np.testing.assert_allclose(_point(t, w), p * [1, 1, 0], atol=1e-12)
    np.testing.assert_allclose(d, [0.5, 0.3])


def test_points_outside_clamp_to_edges_and_corners():
    p = np.array([[2.0, 0.5, 0.0],    # beside the right edge
                  [-1.0, -1.0, 1.0],  # beyond corner 0
                  [0.5, 1.5, 0.0]])   # beyond the top edge
    t, w, d = closest_points_on_triangles(p, VERTS, TRIS, k=2)
    q = _point(t, w)
    np.testing.assert_allclose(q, [[1, 0.5, 0], [0, 0, 0], [0.5, 1, 0]], atol=1e-12)
    np.testing.assert_allclose(d, [1.0, np.sqrt(3), 0.5])
    assert (w >= -1e-12).all() and np.allclose(w.sum(1), 1.0)


def test_mesh_vertices_map_to_themselves(model):
    idx = np.arange(0, 9000, 97)
    t, w, d = closest_points_on_triangles(model.neutral[idx], model.neutral, model.triangles, k=8)
    assert d.max() < 1e-9
    np.testing.assert_allclose(_point(t, w, model.neutral, model.triangles), model.neutral[idx], atol=1e-9)
