"""SegNet: a U-Net from an aligned head crop (``core.segment``) to per-pixel logits of
``core.segment.CLASSES``. Four poolings, so that a pixel sees most of the head (hair against background is
a matter of where as much as of colour). Inference runs the ONNX export in ``headforge.core.segment``."""

from __future__ import annotations

from ..core.segment import CLASSES
from .unet import UNet


class SegNet(UNet):
    def __init__(self, width: int = 12):
        super().__init__(3, len(CLASSES), width, depth=4)
        self.width = width
