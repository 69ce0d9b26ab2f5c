"""CoarseNet (Digital Twin section 3.3 / 3DFaceNet "single-image CoarseNet"): a compact CNN trained from
scratch on synthetic renders. Input: a 128x128 face crop aligned by the detected MediaPipe landmarks
(``headforge.core.regress.crop_face``) and, optionally, those 478 landmarks in crop units as a second
branch (an MLP, plus a linear path to the identity that starts as a ridge regression). Output (162
numbers): identity (100), expression logits (53), rotation in the crop frame (6D, Zhou et al. 2019), and
weak-perspective log-scale and origin (3).

Torch is imported here and in the training code only; inference runs the ONNX export in ``core``.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..core.regress import COARSE_CROP

N_OUT = 100 + 53 + 6 + 3
N_LANDMARK_INPUT = 478 * 2


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


#: side of the last feature map (five stride-2 blocks on the crop: 4 at 128 pixels)
GRID = COARSE_CROP // 32


class CoarseNet(nn.Module):
    """``spatial``: the head sees the last feature map whole (8w x GRID x GRID, flattened) instead of its average,
    so where a feature fired reaches the head (:func:`spatial_from_pooled` makes one from a trained
    pooled network, with the same outputs)."""

    def __init__(self, use_landmarks: bool = True, width: int = 32, spatial: bool = False):
        super().__init__()
        w = width
        self.use_landmarks = use_landmarks
        self.spatial = spatial
        pool = [nn.Flatten()] if spatial else [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(_block(3, w), _block(w, 2 * w), _block(2 * w, 4 * w), _block(4 * w, 6 * w),
                                      _block(6 * w, 8 * w), *pool)
        feat = 8 * w * (GRID * GRID if spatial else 1)
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

    #: batch norms keep their statistics in training (a network read back from its export, whose statistics
    #: are folded into the convolutions: ``onnx_export.coarsenet_from_onnx``)
    frozen_norm = False

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen_norm:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def forward(self, image: torch.Tensor, landmarks: torch.Tensor | None = None) -> torch.Tensor:
        f = self.features(image)
        # under bfloat16 autocast (training with --precision bf16) only the convolutions run in bfloat16: its
        # 8-bit mantissa would round the landmarks (crop units) to half a pixel and the outputs to 0.4 %
        with _float32(image):
            f = f.float()
            if not self.use_landmarks:
                return self.head(f)
            lm = landmarks.float()
            out = self.head(torch.cat([f, self.lm(lm)], 1))
            return torch.cat([out[:, :100] + self.lm_linear(lm), out[:, 100:]], 1)


@torch.no_grad()
def spatial_from_pooled(net: CoarseNet) -> CoarseNet:
    """A ``spatial`` CoarseNet computing what the pooled ``net`` computes: its weights, the head's first
    layer spread evenly over the GRID x GRID cells (the average pool written as a linear map), so training goes
    on from the same function with the cells free to differ."""
    if net.spatial:
        return net
    w = net.features[0][0].out_channels
    new = CoarseNet(use_landmarks=net.use_landmarks, width=w, spatial=True)
    state = dict(net.state_dict())
    W = state["head.0.weight"]                                   # (512, 8w [+ 256])
    c = 8 * w
    cells = W[:, :c].repeat_interleave(GRID * GRID, dim=1) / (GRID * GRID)   # flatten order: channel, row, col
    state["head.0.weight"] = torch.cat([cells, W[:, c:]], 1)
    new.load_state_dict(state)
    new.frozen_norm = net.frozen_norm
    return new


def _float32(x: torch.Tensor):
    """A context with autocast off on ``x``'s device, when it is on (a no-op otherwise, as in export)."""
    dev = x.device.type
    return torch.autocast(dev, enabled=False) if torch.is_autocast_enabled(dev) else contextlib.nullcontext()


def rotation_6d_to_matrix(r6: torch.Tensor) -> torch.Tensor:
    """(B, 6) -> (B, 3, 3) with the two vectors as the first two columns (Gram-Schmidt)."""
    a, b = r6[:, :3], r6[:, 3:]
    x = nn.functional.normalize(a, dim=1)
    b = b - (x * b).sum(1, keepdim=True) * x
    y = nn.functional.normalize(b, dim=1)
    z = torch.cross(x, y, dim=1)
    return torch.stack([x, y, z], 2)
