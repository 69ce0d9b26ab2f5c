"""A plain U-Net (Ronneberger et al. 2015): FineNet's and SegNet's body. Each level two 3x3 convolutions with
batch norm; max-pool down, transposed convolution up, skip connections by concatenation."""

from __future__ import annotations

import torch
from torch import nn


def _conv(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """``depth`` poolings (the input's sides must divide by ``2**depth``); ``width`` channels at full
    resolution, doubling at each level; a 1x1 convolution to ``out_channels`` at the end."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 16, depth: int = 3):
        super().__init__()
        widths = [width * 2 ** k for k in range(depth + 1)]
        self.down = nn.ModuleList([_conv(in_channels, widths[0])] +
                                  [_conv(a, b) for a, b in zip(widths[:-1], widths[1:])])
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList([nn.ConvTranspose2d(b, a, 2, stride=2) for a, b in zip(widths[:-1], widths[1:])])
        self.merge = nn.ModuleList([_conv(2 * a, a) for a in widths[:-1]])
        self.out = nn.Conv2d(width, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for k, block in enumerate(self.down):
            x = block(x if k == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, merge in zip(reversed(self.up), reversed(self.merge)):
            x = merge(torch.cat([up(x), skips.pop()], 1))
        return self.out(x)
