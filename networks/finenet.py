"""FineNet (3DFaceNet section VIII): a U-Net from the face crop (grey, red channel) stacked with the coarse
depth rendered from the fitted head, predicting per-pixel depth displacement (cm) in the crop.
Inference runs the ONNX export in ``headforge.core.detail``."""

from __future__ import annotations

import torch

from .unet import UNet


class FineNet(UNet):
    def __init__(self, width: int = 16, in_channels: int = 4):
        super().__init__(in_channels, 1, width, depth=3)
        with torch.no_grad():
            self.out.weight.mul_(0.01)
            self.out.bias.zero_()

    def forward(self, x):
        return super().forward(x) * 0.1  # cm: fine detail is a millimetre or two
