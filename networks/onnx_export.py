"""Export trained networks to ONNX with Headforge metadata (atomically)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..core.fileio import atomic_path
from ..core.regress import COARSE_CROP


def export_onnx(net, path, meta: dict | None = None) -> Path:
    """Write a trained network to ``path`` with ``meta`` in the model's metadata.

    CoarseNet: inputs ``image`` (B, 3, 128, 128) in [-1, 1] and, when it uses them, ``landmarks`` (B, 956);
    output ``params`` (B, 162). FineNet: input ``input`` (B, 4, 256, 256); output ``displacement``
    (B, 1, 256, 256) cm. SegNet: input ``image`` (B, 3, 128, 128) in [-1, 1]; output ``logits`` (B, 7, 128, 128).
    LandmarkNet: inputs ``image`` and ``landmarks`` as CoarseNet's; output ``points`` (B, K + 17, 3)."""
    import onnx

    from ..core.detail import FINE_CROP
    from ..core.segment import SEG_CROP
    from .finenet import FineNet
    from .landmarknet import LandmarkNet
    from .segnet import SegNet

    net = net.eval()
    if isinstance(net, FineNet):
        kind, args, names, outs = "finenet", (torch.zeros(1, 4, FINE_CROP, FINE_CROP),), ["input"], ["displacement"]
    elif isinstance(net, SegNet):
        kind, args, names, outs = "segnet", (torch.zeros(1, 3, SEG_CROP, SEG_CROP),), ["image"], ["logits"]
    elif isinstance(net, LandmarkNet):
        kind, names, outs = "landmarknet", ["image", "landmarks"], ["points"]
        args = (torch.zeros(1, 3, COARSE_CROP, COARSE_CROP), torch.zeros(1, 956))
    else:
        x = torch.zeros(1, 3, COARSE_CROP, COARSE_CROP)
        kind, outs = "coarsenet", ["params"]
        args = (x, torch.zeros(1, 956)) if net.use_landmarks else (x,)
        names = ["image", "landmarks"] if net.use_landmarks else ["image"]
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.onnx.export(net, args, str(tmp), input_names=names, output_names=outs, opset_version=17,
                          dynamic_axes={n: {0: "batch"} for n in names + outs}, dynamo=False)
        m = onnx.load(str(tmp))
        entry = m.metadata_props.add()
        entry.key = "headforge"
        entry.value = json.dumps({"network": kind, **(meta or {})}, default=str)
        onnx.save(m, str(tmp))
    return path
