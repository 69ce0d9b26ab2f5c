"""The peer in the accuracy benchmark: eos (Huber et al., eos-py 1.5.0 from PyPI) fitting the same ICT-FaceKit
model to the same 68 landmarks (raw MediaPipe mapped to iBUG-68). Benchmark only; the product never imports it.

eos takes the ICT identity modes as a PCA model (orthonormal basis, eigenvalues = squared mode lengths, since
ICT's modes are one standard deviation), the 53 expressions as blendshapes, the 68 landmark vertices as a
landmark mapper, and the jawline candidates as its model contour (the same vertices Headforge slides on).
eos gets the skin only (face, head and neck: the first ``SKIN_END`` vertices; the eyelashes' and eye shells'
open edges would otherwise be taken for the face's outline, and its ray casts over them take seconds) in
millimetres, the unit its regularisation defaults are made for.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from headforge.core.facemodel import JAW_CANDIDATES_LEFT, JAW_CANDIDATES_RIGHT, N_IDENTITY, SKIN_END, FaceModel

MM = 10.0  # eos works in millimetres; ICT in centimetres


@dataclass
class EosResult:
    identity: np.ndarray     #: (100,) in standard deviations
    projected68: np.ndarray  #: (68, 2) pixels: the fitted mesh's 68 vertices (jaw: eos' contour picks)
    seconds: float


class EosPeer:
    def __init__(self, model: FaceModel, iterations: int = 5, lambda_identity: float = 30.0):
        import eos

        self.eos, self.model = eos, model
        self.iterations, self.lambda_identity = iterations, lambda_identity
        tris = model.triangles[(model.triangles < SKIN_END).all(1)]
        B = model.identity_basis[:, :SKIN_END].reshape(N_IDENTITY, -1).astype(np.float64) * MM
        norms = np.linalg.norm(B, axis=1)
        shape = eos.morphablemodel.PcaModel((model.neutral[:SKIN_END] * MM).reshape(-1).astype(np.float32),
                                            (B / norms[:, None]).T.astype(np.float32),
                                            (norms ** 2).astype(np.float32), tris.tolist())
        blend = [eos.morphablemodel.Blendshape(
            n, (model.expression_basis[k, :SKIN_END] * MM).reshape(-1).astype(np.float32))
            for k, n in enumerate(model.expression_names)]
        self.mm = eos.morphablemodel.MorphableModel(shape, blend, eos.morphablemodel.PcaModel())
        self._tmp = tempfile.TemporaryDirectory(prefix="headforge-eos-")
        d = Path(self._tmp.name)
        lm = model.landmarks68
        mappings = "\n".join(f'"{k + 1}" = "{int(lm[k])}"' for k in range(8, 68))
        (d / "mapper.txt").write_text(
            f"[landmark_mappings]\n{mappings}\n\n[contour_landmarks]\nright = [{', '.join(f'{k}' for k in range(1, 9))}]\n"
            f"left = [{', '.join(f'{k}' for k in range(10, 18))}]\n")
        (d / "contour.json").write_text(json.dumps({"model_contour": {
            "right_contour": [int(v) for v in JAW_CANDIDATES_RIGHT],
            "left_contour": [int(v) for v in JAW_CANDIDATES_LEFT]}}))
        self.mapper = eos.core.LandmarkMapper(str(d / "mapper.txt"))
        self.contour_landmarks = eos.fitting.ContourLandmarks.load(str(d / "mapper.txt"))
        self.model_contour = eos.fitting.ModelContour.load(str(d / "contour.json"))
        self.edges = self._edge_topology(tris)

    def _edge_topology(self, tris: np.ndarray):
        """eos' edge topology: for every edge its two faces (1-based, 0 = none) and two vertices (1-based)."""
        e = np.sort(np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [0, 2]]]), 1)
        face = np.tile(np.arange(1, len(tris) + 1), 3)
        order = np.lexsort((e[:, 1], e[:, 0]))
        e, face = e[order], face[order]
        first = np.ones(len(e), bool)
        first[1:] = (e[1:] != e[:-1]).any(1)
        starts = np.flatnonzero(first)
        ends = np.append(starts[1:], len(e))
        adj_faces = [[int(face[a]), int(face[a + 1]) if b - a > 1 else 0] for a, b in zip(starts, ends)]
        adj_verts = (e[starts] + 1).tolist()
        return self.eos.morphablemodel.EdgeTopology(adj_faces, adj_verts)

    def fit(self, points68: np.ndarray, width: int, height: int) -> EosResult:
        eos = self.eos
        lms = [eos.core.Landmark(str(k + 1), np.asarray(p, np.float32)) for k, p in enumerate(points68)]
        t = time.perf_counter()
        mesh, pose, shape, _ = eos.fitting.fit_shape_and_pose(
            self.mm, lms, self.mapper, width, height, self.edges, self.contour_landmarks, self.model_contour,
            num_iterations=self.iterations, lambda_identity=self.lambda_identity)
        seconds = time.perf_counter() - t
        v = np.asarray(mesh.vertices, np.float64)
        P = np.hstack([v, np.ones((len(v), 1))])
        clip = P @ (np.asarray(pose.get_projection()) @ np.asarray(pose.get_modelview())).T
        uv = np.stack([(clip[:, 0] + 1) * width / 2, (1 - clip[:, 1]) * height / 2], 1)
        vid = self.model.landmarks68.copy()
        jaw = np.concatenate([JAW_CANDIDATES_RIGHT, JAW_CANDIDATES_LEFT])
        for k in range(17):   # the jaw: eos' own rule, the contour vertex nearest to the landmark
            if k != 8:
                vid[k] = jaw[np.argmin(np.linalg.norm(uv[jaw] - points68[k], axis=1))]
        return EosResult(identity=np.asarray(shape, np.float64)[:N_IDENTITY], projected68=uv[vid], seconds=seconds)
