"""LandmarkNet: where the model's own landmark points are in a photo (Wood et al. 2022, "3D Face Reconstruction
with Dense Landmarks": landmarks that belong to the model, each with an uncertainty, learned from synthetic
faces).

MediaPipe's points are not ICT surface points: each sits, photo to photo, a few percent of the eye distance
from the ICT point it stands for (more on a turned head), and the fit bent the identity to follow that error.
LandmarkNet sees CoarseNet's aligned 128x128 crop and MediaPipe's 478 points in it, and predicts for each of
the fit's fixed correspondences (``core.correspondence.Correspondence``: K ICT surface points) where that
surface point really is in the crop, and for the 17 jawline points where the head's visible outline is, each as
an offset from MediaPipe's point (``core.modellandmarks.anchor_points``), with a standard deviation.

Output ``(B, K + 17, 3)``: offset x, y in crop units (crop pixels / (COARSE_CROP / 2)) and log sigma (the same
units). The last layer starts at zero offset, so an untrained network returns MediaPipe's points.
"""

from __future__ import annotations

import torch
from torch import nn

from .coarsenet import GRID, N_LANDMARK_INPUT, _block

#: log sigma where training starts (about 2.5 % of the crop's half width, MediaPipe's typical miss)
LOG_SIGMA_START = -3.7


class LandmarkNet(nn.Module):
    def __init__(self, n_points: int, width: int = 24):
        super().__init__()
        w = width
        self.n_points = n_points
        self.features = nn.Sequential(_block(3, w), _block(w, 2 * w), _block(2 * w, 4 * w), _block(4 * w, 6 * w),
                                      _block(6 * w, 8 * w), nn.Flatten())
        self.lm = nn.Sequential(nn.Linear(N_LANDMARK_INPUT, 256), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Linear(8 * w * GRID * GRID + 256, 512), nn.ReLU(inplace=True),
                                  nn.Linear(512, n_points * 3))
        with torch.no_grad():
            self.head[-1].weight.mul_(0.01)
            self.head[-1].bias.zero_()
            self.head[-1].bias.view(n_points, 3)[:, 2] = LOG_SIGMA_START

    def forward(self, image: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.features(image), self.lm(landmarks)], 1)
        return self.head(x).view(-1, self.n_points, 3)
