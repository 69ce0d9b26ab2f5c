"""FineNet (3DFaceNet section VIII): a U-Net from the face crop (grey, red channel) stacked with the coarse
depth rendered from the fitted head, predicting per-pixel depth displacement (cm) in the crop.
Inference runs the ONNX export in ``headforge.core.detail``."""

from __future__ import annotations

import torch
from torch import nn


def _conv(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class FineNet(nn.Module):
    def __init__(self, width: int = 16, in_channels: int = 4):
        super().__init__()
        w = width
        self.e1, self.e2, self.e3, self.e4 = _conv(in_channels, w), _conv(w, 2 * w), _conv(2 * w, 4 * w), _conv(4 * w, 8 * w)
        self.pool = nn.MaxPool2d(2)
        self.up3, self.d3 = nn.ConvTranspose2d(8 * w, 4 * w, 2, stride=2), _conv(8 * w, 4 * w)
        self.up2, self.d2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2), _conv(4 * w, 2 * w)
        self.up1, self.d1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2), _conv(2 * w, w)
        self.out = nn.Conv2d(w, 1, 1)
        with torch.no_grad():
            self.out.weight.mul_(0.01)
            self.out.bias.zero_()

    def forward(self, x):
        e1 = self.e1(x)
        e2 = self.e2(self.pool(e1))
        e3 = self.e3(self.pool(e2))
        e4 = self.e4(self.pool(e3))
        d3 = self.d3(torch.cat([self.up3(e4), e3], 1))
        d2 = self.d2(torch.cat([self.up2(d3), e2], 1))
        d1 = self.d1(torch.cat([self.up1(d2), e1], 1))
        return self.out(d1) * 0.1  # cm: fine detail is a millimetre or two
