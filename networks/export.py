"""Export a trained network to ONNX with Headforge metadata (atomically)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..core.fileio import atomic_path
from ..core.regress import CROP


def export_onnx(net, path, meta: dict | None = None) -> Path:
    """Write ``net`` (CoarseNet) to ``path``: inputs ``image`` (B, 3, 128, 128) in [-1, 1] and, when it uses
    them, ``landmarks`` (B, 956); output ``params`` (B, 162). ``meta`` goes into the model's metadata."""
    import onnx

    net = net.eval()
    x = torch.zeros(1, 3, CROP, CROP)
    args = (x, torch.zeros(1, 956)) if net.use_landmarks else (x,)
    names = ["image", "landmarks"] if net.use_landmarks else ["image"]
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.onnx.export(net, args, str(tmp), input_names=names, output_names=["params"], opset_version=17,
                          dynamic_axes={n: {0: "batch"} for n in names + ["params"]}, dynamo=False)
        m = onnx.load(str(tmp))
        entry = m.metadata_props.add()
        entry.key = "headforge"
        entry.value = json.dumps({"network": "coarsenet", "crop": CROP, **(meta or {})}, default=str)
        onnx.save(m, str(tmp))
    return path
