"""Pinhole camera in the OpenCV convention: ``x_cam = R @ x_model + t`` (model cm -> camera cm), camera
looks along +Z with +Y down, pixels ``u = fx * x / z + cx``, ``v = fy * y / z + cy`` (origin at the
top-left corner of the top-left pixel)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Camera:
    fx: float
    fy: float
    cx: float
    cy: float
    rotation: np.ndarray     #: (3, 3) float64, model -> camera
    translation: np.ndarray  #: (3,) float64, cm
    width: int
    height: int

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])

    def to_camera(self, pts: np.ndarray) -> np.ndarray:
        """Model-space points ``(N, 3)`` cm -> camera space ``(N, 3)`` cm."""
        return np.asarray(pts, np.float64) @ self.rotation.T + self.translation

    def project(self, pts: np.ndarray) -> np.ndarray:
        """Model-space points ``(N, 3)`` cm -> pixels ``(N, 2)`` float64."""
        y = self.to_camera(pts)
        z = np.maximum(y[:, 2], 1e-6)
        return np.stack([self.fx * y[:, 0] / z + self.cx, self.fy * y[:, 1] / z + self.cy], 1)

    @property
    def center(self) -> np.ndarray:
        """Camera centre in model space (cm)."""
        return -self.rotation.T @ self.translation

    def to_dict(self) -> dict:
        return {"fx": float(self.fx), "fy": float(self.fy), "cx": float(self.cx), "cy": float(self.cy),
                "rotation": np.asarray(self.rotation).tolist(), "translation": np.asarray(self.translation).tolist(),
                "width": int(self.width), "height": int(self.height), "convention": "opencv",
                "units": "model cm -> camera cm; pixels"}

    @classmethod
    def from_dict(cls, d: dict) -> "Camera":
        return cls(d["fx"], d["fy"], d["cx"], d["cy"], np.asarray(d["rotation"], float),
                   np.asarray(d["translation"], float), int(d["width"]), int(d["height"]))


def rodrigues(w: np.ndarray) -> np.ndarray:
    """Rotation matrix of an axis-angle vector ``w`` (radians)."""
    th = float(np.linalg.norm(w))
    if th < 1e-12:
        return np.eye(3)
    k = w / th
    Kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(th) * Kx + (1 - np.cos(th)) * Kx @ Kx


def euler_degrees(R_model_to_cam: np.ndarray) -> dict:
    """Head yaw/pitch/roll in degrees relative to a camera looking at the face (0, 0, 0 = frontal)."""
    # the frontal pose maps model +Y (up) to camera -Y and model +Z (towards viewer) to camera -Z
    F = np.diag([1.0, -1.0, -1.0])
    H = F @ R_model_to_cam  # head rotation in a y-up, z-to-viewer frame
    yaw = np.degrees(np.arctan2(H[0, 2], H[2, 2]))
    pitch = np.degrees(np.arcsin(np.clip(-H[1, 2], -1, 1)))
    roll = np.degrees(np.arctan2(H[1, 0], H[1, 1]))
    return {"yaw": float(yaw), "pitch": float(pitch), "roll": float(roll)}
