"""CoarseNet (Digital Twin section 3.3 / 3DFaceNet "single-image CoarseNet"): a compact CNN trained from
scratch on synthetic renders. Input: a 128x128 face crop aligned by the detected MediaPipe landmarks
(``headforge.core.regress.crop_face``) and, optionally, those 478 landmarks in crop units as a second
branch (an MLP, plus a linear path to the identity that starts as a ridge regression). Output (162
numbers): identity (100), expression logits (53), rotation in the crop frame (6D, Zhou et al. 2019), and
weak-perspective log-scale and origin (3).

Torch is imported here and in the training code only; inference runs the ONNX export in ``core``.
"""

from __future__ import annotations

import torch
from torch import nn

N_OUT = 100 + 53 + 6 + 3
N_LANDMARK_INPUT = 478 * 2


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class CoarseNet(nn.Module):
    def __init__(self, use_landmarks: bool = True, width: int = 32):
        super().__init__()
        w = width
        self.use_landmarks = use_landmarks
        self.features = nn.Sequential(_block(3, w), _block(w, 2 * w), _block(2 * w, 4 * w), _block(4 * w, 6 * w),
                                      _block(6 * w, 8 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        feat = 8 * w
        if use_landmarks:
            self.lm = nn.Sequential(nn.Linear(N_LANDMARK_INPUT, 256), nn.ReLU(inplace=True), nn.Linear(256, 256),
                                    nn.ReLU(inplace=True))
            feat += 256
            # linear path from the landmarks to the identity, set to a ridge regression before training
            # (``train_coarse.ridge_init``): the network learns the residual the image explains
            self.lm_linear = nn.Linear(N_LANDMARK_INPUT, 100)
            nn.init.zeros_(self.lm_linear.weight)
            nn.init.zeros_(self.lm_linear.bias)
        self.head = nn.Sequential(nn.Linear(feat, 512), nn.ReLU(inplace=True), nn.Dropout(0.1), nn.Linear(512, N_OUT))
        # start from the mean face, frontal, unit scale, centred
        with torch.no_grad():
            self.head[-1].weight.mul_(0.01)
            self.head[-1].bias.zero_()
            self.head[-1].bias[100:153] = -3.0  # expressions start near 0
            self.head[-1].bias[153:159] = torch.tensor([1.0, 0, 0, 0, -1.0, 0])  # frontal in camera (y down)

    def forward(self, image: torch.Tensor, landmarks: torch.Tensor | None = None) -> torch.Tensor:
        f = self.features(image)
        if not self.use_landmarks:
            return self.head(f)
        out = self.head(torch.cat([f, self.lm(landmarks)], 1))
        lin = self.lm_linear(landmarks)
        return torch.cat([out[:, :100] + lin, out[:, 100:]], 1)


def rotation_6d_to_matrix(r6: torch.Tensor) -> torch.Tensor:
    """(B, 6) -> (B, 3, 3) with the two vectors as the first two columns (Gram-Schmidt)."""
    a, b = r6[:, :3], r6[:, 3:]
    x = nn.functional.normalize(a, dim=1)
    b = b - (x * b).sum(1, keepdim=True) * x
    y = nn.functional.normalize(b, dim=1)
    z = torch.cross(x, y, dim=1)
    return torch.stack([x, y, z], 2)
