"""Export trained networks to ONNX with Headforge metadata (atomically)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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


@torch.no_grad()
def coarsenet_from_onnx(path):
    """The :class:`~headforge.networks.coarsenet.CoarseNet` an exported file computes, to train further when its
    torch checkpoint is gone. Export folds each batch norm into the convolution before it, so the convolutions
    take the folded weights, each batch norm becomes the identity carrying the folded bias, and the network's
    batch norms stay frozen in training (``frozen_norm``: their statistics cannot be learned again)."""
    import onnx
    from onnx import numpy_helper

    from .coarsenet import CoarseNet

    m = onnx.load(str(path))
    meta = json.loads({p.key: p.value for p in m.metadata_props}.get("headforge", "{}"))
    if meta.get("network") != "coarsenet":
        raise ValueError(f"{str(path)!r} is not an exported CoarseNet (network {meta.get('network')!r})")
    init = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in m.graph.initializer}
    net = CoarseNet(use_landmarks=bool(meta.get("use_landmarks", True)), width=int(meta.get("width", 32)),
                    spatial=bool(meta.get("spatial", False)))
    state = net.state_dict()
    for name in state:
        if name in init:
            state[name] = init[name].reshape(state[name].shape)
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    pairs = [(blk[i], blk[i + 1]) for blk in net.features if isinstance(blk, torch.nn.Sequential) for i in (0, 3)]
    if len(convs) != len(pairs):
        raise ValueError(f"{str(path)!r} has {len(convs)} convolutions; this CoarseNet has {len(pairs)}")
    names = {id(mod): n for n, mod in net.named_modules()}
    for node, (conv, norm) in zip(convs, pairs):
        c, b = names[id(conv)], names[id(norm)]
        state[f"{c}.weight"] = init[node.input[1]]
        state[f"{b}.weight"] = torch.ones_like(state[f"{b}.weight"])
        state[f"{b}.bias"] = init[node.input[2]]
        state[f"{b}.running_mean"] = torch.zeros_like(state[f"{b}.running_mean"])
        state[f"{b}.running_var"] = torch.full_like(state[f"{b}.running_var"], 1.0 - norm.eps)
    net.load_state_dict(state)
    net.frozen_norm = True
    return net


def average_onnx(paths, out, meta: dict | None = None, half: bool = True, weights=None) -> Path:
    """One ONNX file that runs the exported networks ``paths`` (of one kind, with the same inputs and outputs)
    side by side on the same inputs and gives the mean of each output: an ensemble the product runs as it runs
    one network. Its metadata keeps the first network's, with ``members`` (each network's metadata) and
    ``meta`` on top. ``half``: weights stored as float16 and cast back to float32 when the file is loaded
    (onnxruntime folds the casts), so the file is half the size and computes in float32 as before.
    ``weights``: one per network, for a weighted mean (an ensemble of two given weight 2 beside a third network
    of weight 1 makes the plain mean of all three)."""
    import onnx
    from onnx import compose, helper, numpy_helper

    models = [onnx.load(str(p)) for p in paths]
    if weights is not None and (len(weights) != len(models) or min(weights) <= 0):
        raise ValueError(f"give one positive weight per network ({len(models)}), not {list(weights)}")
    metas = [json.loads({e.key: e.value for e in m.metadata_props}.get("headforge", "{}")) for m in models]
    if len({x.get("network") for x in metas}) != 1:
        raise ValueError(f"an ensemble needs networks of one kind, not {[x.get('network') for x in metas]}")
    first = models[0].graph
    inputs, outputs = [i.name for i in first.input], [o.name for o in first.output]
    nodes, inits = [], []
    for k, m in enumerate(models):
        if [i.name for i in m.graph.input] != inputs or [o.name for o in m.graph.output] != outputs:
            raise ValueError(f"{str(paths[k])!r} has other inputs or outputs than {str(paths[0])!r}")
        g = compose.add_prefix(m, prefix=f"m{k}_").graph
        nodes += [helper.make_node("Identity", [name], [f"m{k}_{name}"]) for name in inputs] + list(g.node)
        for init in g.initializer:
            w = numpy_helper.to_array(init)
            if half and w.dtype == np.float32 and w.size >= 256:
                inits.append(numpy_helper.from_array(w.astype(np.float16), f"{init.name}_f16"))
                nodes.insert(0, helper.make_node("Cast", [f"{init.name}_f16"], [init.name], to=onnx.TensorProto.FLOAT))
            else:
                inits.append(init)
    if weights is None:
        nodes += [helper.make_node("Mean", [f"m{k}_{name}" for k in range(len(models))], [name]) for name in outputs]
    else:
        share = np.asarray(weights, np.float32) / np.sum(weights)
        inits += [numpy_helper.from_array(np.array(w, np.float32), f"share{k}") for k, w in enumerate(share)]
        for name in outputs:
            nodes += [helper.make_node("Mul", [f"m{k}_{name}", f"share{k}"], [f"m{k}_{name}_w"])
                      for k in range(len(models))]
            nodes.append(helper.make_node("Sum", [f"m{k}_{name}_w" for k in range(len(models))], [name]))
    graph = helper.make_graph(nodes, "ensemble", list(first.input), list(first.output), inits)
    merged = helper.make_model(graph, opset_imports=models[0].opset_import, ir_version=models[0].ir_version)
    onnx.checker.check_model(merged)
    entry = merged.metadata_props.add()
    entry.key = "headforge"
    entry.value = json.dumps({**metas[0], "members": metas, **(meta or {})}, default=str)
    path = Path(out)
    with atomic_path(path) as tmp:
        onnx.save(merged, str(tmp))
    return path


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Average exported networks into one ONNX file (an ensemble).")
    ap.add_argument("networks", nargs="+", help="exported networks of one kind (.onnx)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--full", action="store_true", help="keep the weights in float32 (default: stored as float16)")
    ap.add_argument("--weights", type=float, nargs="+",
                    help="one per network, for a weighted mean (an ensemble of two weighs 2 to count as two)")
    args = ap.parse_args(argv)
    try:
        meta = {"ensemble_of": [Path(n).name for n in args.networks]}
        if args.weights:
            meta["ensemble_weights"] = args.weights
        path = average_onnx(args.networks, args.out, meta, half=not args.full, weights=args.weights)
    except (OSError, ValueError) as e:
        raise SystemExit(str(e)) from None
    print(f"{len(args.networks)} networks averaged -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
