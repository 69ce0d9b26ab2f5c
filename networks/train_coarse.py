"""Train CoarseNet on a synthetic set, evaluate on a held-out set, export ONNX.

``python -m headforge.networks.train_coarse --train DATA --heldout HELDOUT --out core/weights/coarsenet.onnx``

``python -m headforge.networks.train_coarse pack --train DATA --out PACK.npz`` writes a set's usable renders as
crops with their targets and the part of the face model the loss uses (about 7 KB a render), and
``--train PACK.npz`` trains on it: how the samples travel to a machine that has neither the renders nor the face
model (a lent GPU).

1. ``detect_all``: run MediaPipe (the same detector the pipeline uses on photos) on every render once and
   cache the 478 points per shard (``mp_detect.npz``); renders where it finds no face are left out.
2. Targets, all in the aligned crop's frame: identity, expression, rotation (camera frame turned by the
   crop's in-plane rotation), weak-perspective scale and origin.
3. Loss: per-vertex L1 on the mesh (face region weighted 5x, as in the paper) + landmark reprojection in the
   crop + small direct terms on rotation and scale. Strong augmentation for real photos: colour, blur,
   noise, JPEG, occluders, crop jitter, landmark jitter; and left-right mirroring (crop, landmarks and
   every target mirrored), which inference uses too (``core.regress.CoarseNetOnnx.predict(flip=True)``).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from ..core.correspondence import aligned_distance
from ..core.errors import HeadforgeError
from ..core.fileio import atomic_path
from ..core.facemodel import FACE_END, LANDMARKS_68, N_IDENTITY, SKIN_END, load_face_model
from ..core.regress import (COARSE_CROP, TEMPLATE_SCALE, align, landmark_input, landmark_mirror, mirror_crop,
                            model_inputs)
from .coarsenet import CoarseNet, rotation_6d_to_matrix, spatial_from_pooled
from .dataset import SynthSet, detect_all, detections
from .onnx_export import coarsenet_from_onnx
from .training import (augment_image, decode_image, encode_images, pack_main, sample_loader, save_checkpoint,
                       torch_threads, training_device, training_sources)

PRECISIONS = ("fp32", "bf16")


def _rot_z(A: np.ndarray) -> tuple[np.ndarray, float]:
    """3x3 rotation about the view axis from a 2x2 similarity, and its scale."""
    k = np.sqrt(abs(np.linalg.det(A)))
    Rz = np.eye(3)
    Rz[:2, :2] = A / k
    return Rz, k


#: the loss's vertex subset: this many vertices (two thirds in the face region), drawn with this seed
LOSS_VERTICES, LOSS_SEED = 3000, 0
_TARGETS = ("identity", "expression", "R", "origin", "log_s", "lm68", "lm68_visible")


@dataclass(frozen=True)
class ModelPart:
    """What CoarseNet's training uses of the face model and of MediaPipe's canonical mesh: the loss's vertices
    (``vertices``, their neutral positions ``(V, 3)`` cm and basis columns ``(153, 3V)``), the 68 landmarks'
    (``lm_neutral``, ``lm_basis``), and the mirrors that flip a sample (identity ``(100, 100)``; expressions,
    68 landmarks and MediaPipe's 478 as index permutations). A pack carries it, so a machine without either
    can train."""

    vertices: np.ndarray
    neutral: np.ndarray
    basis: np.ndarray
    lm_neutral: np.ndarray
    lm_basis: np.ndarray
    identity_mirror: np.ndarray
    expression_mirror: np.ndarray
    lm68_mirror: np.ndarray
    landmark_mirror: np.ndarray

    @classmethod
    def of(cls, model, n_vertices: int = LOSS_VERTICES, seed: int = LOSS_SEED) -> "ModelPart":
        rng = np.random.default_rng(seed)
        face = rng.choice(FACE_END, size=min(2 * n_vertices // 3, FACE_END), replace=False)
        head = rng.choice(np.arange(FACE_END, SKIN_END), size=n_vertices // 3, replace=False)
        vid = np.concatenate([face, head])
        cols = (vid[:, None] * 3 + np.arange(3)).ravel()
        lcols = (LANDMARKS_68[:, None] * 3 + np.arange(3)).ravel()
        lm68 = model.neutral[LANDMARKS_68].astype(np.float64)
        return cls(vertices=vid, neutral=model.neutral[vid].astype(np.float32),
                   basis=model.basis[:, cols].astype(np.float32),
                   lm_neutral=model.neutral[LANDMARKS_68].astype(np.float32),
                   lm_basis=model.basis[:, lcols].astype(np.float32),
                   identity_mirror=model.identity_mirror.astype(np.float32),
                   expression_mirror=np.asarray(model.expression_mirror),
                   lm68_mirror=np.array([np.argmin(np.linalg.norm(lm68 - p * [-1, 1, 1], axis=1)) for p in lm68]),
                   landmark_mirror=np.array(landmark_mirror()))

    def fields(self) -> dict:
        """The arrays by name (``part_`` + field), as a pack stores them."""
        return {f"part_{k}": getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_fields(cls, z) -> "ModelPart":
        return cls(**{k: np.asarray(z[f"part_{k}"], np.float32 if k.endswith("basis") else None)
                      for k in cls.__dataclass_fields__})


def _samples_of_set(ds: SynthSet) -> tuple[np.ndarray, np.ndarray, dict]:
    """The crops, landmarks (crop pixels) and targets of the renders of ``ds`` where MediaPipe found the face."""
    detect_all(ds)
    pts, ok = detections(ds)
    lab = ds.labels(("identity", "expression", "R", "K", "t", "lm68", "lm68_visible"))
    crops, lms, tg = [], [], {k: [] for k in _TARGETS}
    for i in np.flatnonzero(ok):
        p = pts[i].astype(np.float64)
        M = align(p)
        crops.append(cv2.warpAffine(ds.image(i), M, (COARSE_CROP, COARSE_CROP), flags=cv2.INTER_AREA,
                                    borderMode=cv2.BORDER_REPLICATE))
        lms.append(p @ M[:, :2].T + M[:, 2])
        A = M[:, :2]
        Rz, k = _rot_z(A)
        K, t = lab["K"][i].astype(np.float64), lab["t"][i].astype(np.float64)
        origin_img = np.array([K[0, 0] * t[0] / t[2] + K[0, 2], K[1, 1] * t[1] / t[2] + K[1, 2]])
        tg["identity"].append(lab["identity"][i])
        tg["expression"].append(lab["expression"][i])
        tg["R"].append(Rz @ lab["R"][i].astype(np.float64))
        tg["origin"].append(A @ origin_img + M[:, 2])                       # crop pixels
        tg["log_s"].append(np.log(K[0, 0] / t[2] * k / TEMPLATE_SCALE))
        tg["lm68"].append(lab["lm68"][i].astype(np.float64) @ A.T + M[:, 2])
        tg["lm68_visible"].append(lab["lm68_visible"][i])
    if not crops:
        return np.zeros((0, COARSE_CROP, COARSE_CROP, 3), np.uint8), np.zeros((0, 478, 2)), {}
    return np.stack(crops), np.stack(lms), {k: np.stack(v) for k, v in tg.items()}


def _not_a_pack(path, e: Exception) -> HeadforgeError:
    return HeadforgeError(f"{str(path)!r} is not a CoarseNet pack ({e}); write one with "
                          "`python -m headforge.networks.train_coarse pack`.")


def _samples_of_pack(path, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """The first ``limit`` (None: all) crops, landmarks and targets of a pack (:func:`pack_samples`)."""
    try:
        with np.load(path) as z:
            ends = z["jpeg_ends"]
            n = len(ends) if limit is None else min(limit, len(ends))
            jpeg = z["jpeg"]
            crops = (np.stack([decode_image(jpeg, ends, k) for k in range(n)]) if n
                     else np.zeros((0, COARSE_CROP, COARSE_CROP, 3), np.uint8))
            return (crops, z["landmarks"][:n].astype(np.float64),
                    {k: z[k][:n].astype(np.float32 if k == "lm68_visible" else np.float64) for k in _TARGETS})
    except (OSError, ValueError, KeyError) as e:
        raise _not_a_pack(path, e) from None


class Samples(torch.utils.data.Dataset):
    """Aligned crops with their targets, held in memory (``COARSE_CROP``^2 uint8 per render: 49 KB, so 10,000
    renders take 0.5 GB; each render is read once). ``augment`` for training: crop jitter (rotation, scale,
    shift of the aligned crop, with the targets moved alike), landmark noise, then colour, blur, noise,
    JPEG and occluders (:func:`augment_image`), and with probability ``flip`` the mirror image: crop and
    landmarks mirrored about the crop's centre, identity through the face model's identity mirror,
    expressions, 68 landmarks and their visibility swapped left for right, rotation ``S R S`` with
    ``S = diag(-1, 1, 1)``. ``sources``: one :class:`SynthSet`, or several and packs (:func:`pack_samples`;
    ``(path, limit)``). ``part``: the face model's part (default: the first pack's when all are packs, else
    the face model's)."""

    def __init__(self, sources, augment: bool, seed: int = 0, log=None, flip: float = 0.5,
                 part: ModelPart | None = None):
        sources = [sources] if isinstance(sources, SynthSet) else list(sources)
        self.augment = augment
        self.flip = flip if augment else 0.0
        self.rng = np.random.default_rng(seed)
        self.part = part or model_part(sources)
        t0 = time.perf_counter()
        loaded = [_samples_of_set(src) if isinstance(src, SynthSet) else _samples_of_pack(*src) for src in sources]
        loaded = [one for one in loaded if len(one[1])]
        self.crops = (np.concatenate([one[0] for one in loaded]) if loaded
                      else np.zeros((0, COARSE_CROP, COARSE_CROP, 3), np.uint8))
        self.landmarks = np.concatenate([one[1] for one in loaded]) if loaded else np.zeros((0, 478, 2))
        self.targets = {k: np.concatenate([one[2][k] for one in loaded]) if loaded else np.zeros(0)
                        for k in _TARGETS}
        if log:
            log(f"cached {len(self.crops)} crops in {time.perf_counter() - t0:.0f} s")

    def __len__(self):
        return len(self.crops)

    def landmark_inputs(self) -> np.ndarray:
        """``(n, 956)`` un-augmented landmark inputs (for the ridge initialisation)."""
        return np.stack([landmark_input(p) for p in self.landmarks]) if len(self) else np.zeros((0, 956))

    def __getitem__(self, n):
        img, pts = self.crops[n], self.landmarks[n]
        R, origin, log_s, lm68, vis, ident, expr = (self.targets[k][n] for k in (
            "R", "origin", "log_s", "lm68", "lm68_visible", "identity", "expression"))
        if self.flip and self.rng.random() < self.flip:
            img, pts = mirror_crop(img, pts, self.part.landmark_mirror)
            S = np.diag([-1.0, 1.0, 1.0])
            R, origin = S @ R @ S, origin * [-1, 1] + [COARSE_CROP, 0]
            lm68 = (lm68 * [-1, 1] + [COARSE_CROP, 0])[self.part.lm68_mirror]
            vis = vis[self.part.lm68_mirror]
            ident, expr = self.part.identity_mirror @ ident, expr[self.part.expression_mirror]
        if self.augment:
            rng = self.rng
            J = cv2.getRotationMatrix2D((COARSE_CROP / 2, COARSE_CROP / 2), rng.normal(0, 3), np.exp(rng.normal(0, 0.04)))
            J[:, 2] += rng.normal(0, 2, 2)
            img = cv2.warpAffine(img, J, (COARSE_CROP, COARSE_CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            A = J[:, :2]
            pts = pts @ A.T + J[:, 2] + rng.normal(0, 0.5, pts.shape)           # detector noise
            Rz, k = _rot_z(A)
            R, origin, log_s = Rz @ R, A @ origin + J[:, 2], log_s + np.log(k)
            lm68 = lm68 @ A.T + J[:, 2]
            img = augment_image(img, rng)
        x, lm = model_inputs(img, pts)
        tgt = {"identity": ident.astype(np.float32), "expression": expr.astype(np.float32), "R": R.astype(np.float32),
               "origin": ((origin - COARSE_CROP / 2) / (COARSE_CROP / 2)).astype(np.float32), "log_s": np.float32(log_s),
               "lm68": lm68.astype(np.float32), "lm68_visible": vis.astype(np.float32)}
        return torch.from_numpy(x.copy()), torch.from_numpy(lm), {k: torch.as_tensor(v) for k, v in tgt.items()}


def ridge_init(net, data: Samples, lam: float = 100.0) -> None:
    """Set the network's linear landmark path to a ridge regression of identity on the (standardised)
    landmark inputs of ``data``: the network starts where a linear landmark model ends."""
    X = data.landmark_inputs().astype(np.float64)
    Y = data.targets["identity"].astype(np.float64)
    mu, sd = X.mean(0), X.std(0) + 1e-6
    Xn = (X - mu) / sd
    ym = Y.mean(0)
    A = np.linalg.solve(Xn.T @ Xn + lam * np.eye(Xn.shape[1]), Xn.T @ (Y - ym))   # (956, 100)
    W = (A / sd[:, None]).T
    b = ym - (mu / sd) @ A
    with torch.no_grad():
        net.lm_linear.weight.copy_(torch.from_numpy(W.astype(np.float32)))
        net.lm_linear.bias.copy_(torch.from_numpy(b.astype(np.float32)))


def model_part(sources) -> ModelPart:
    """The face model's part for training on ``sources``: the first pack's when all are packs (a machine
    without the face model), else the face model's."""
    packs = [s for s in sources if not isinstance(s, SynthSet)]
    if packs and len(packs) == len(sources):
        try:
            with np.load(packs[0][0]) as z:
                return ModelPart.from_fields(z)
        except (OSError, ValueError, KeyError) as e:
            raise _not_a_pack(packs[0][0], e) from None
    return ModelPart.of(load_face_model())


def pack_samples(data: Samples, path, quality: int = 92, sources: list[dict] | None = None) -> Path:
    """Write ``data``'s crops (JPEG), landmarks and targets, with the face model's part, as one ``.npz``,
    atomically: about 7 KB a render and 2.8 MB for the part. Landmarks in float16 (to 0.06 px in the crop,
    below the training's 0.5 px detector noise), the part's bases too (to 0.05 %: microns), the other
    targets in float32. ``sources``: what the samples came from (:func:`source_record`), which a network
    trained on the pack records."""
    jpeg, ends = encode_images(data.crops, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, quality])
    targets = {k: v.astype(np.bool_ if k == "lm68_visible" else np.float16 if k == "lm68" else np.float32)
               for k, v in data.targets.items()}
    part = {k: v.astype(np.float16) if k.endswith("basis") else v for k, v in data.part.fields().items()}
    with atomic_path(path) as tmp:
        np.savez(tmp, jpeg=jpeg, jpeg_ends=ends, landmarks=data.landmarks.astype(np.float16), **targets, **part,
                 sources=np.str_(json.dumps(sources or [])))
    return Path(path)


def source_record(src) -> dict:
    """What a network's metadata says of one training source: a set's path, seed, version and renders, or a
    pack's name, limit and the sets it was written from."""
    if isinstance(src, SynthSet):
        return {"path": str(src.root), "seed": src.config.seed, "version": src.config.version, "renders": len(src),
                "first_shard": src.shards[0] if src.shards else 0}
    path, limit = src
    with np.load(path) as z:
        packed = json.loads(str(z["sources"])) if "sources" in z else []
    return {"pack": Path(path).name, "limit": limit, "sources": packed}


def _write_pack(sources, out) -> int:
    data = Samples(sources, augment=False)
    pack_samples(data, out, sources=[source_record(s) for s in sources])
    return len(data)


class MeshLoss(nn.Module):
    """Per-vertex L1 (cm) on a vertex subset, face region weighted 5x; landmark reprojection (crop units).
    ``model``: the face model, or its :class:`ModelPart`."""

    def __init__(self, model, shape_weight: float = 2.0):
        super().__init__()
        self.shape_weight = shape_weight
        part = model if isinstance(model, ModelPart) else ModelPart.of(model)
        self.register_buffer("mean", torch.from_numpy(part.neutral.astype(np.float32)))
        self.register_buffer("basis", torch.from_numpy(part.basis.astype(np.float32)))
        self.register_buffer("w", torch.from_numpy(np.where(part.vertices < FACE_END, 5.0, 1.0).astype(np.float32)))
        self.register_buffer("lm_mean", torch.from_numpy(part.lm_neutral.astype(np.float32)))
        self.register_buffer("lm_basis", torch.from_numpy(part.lm_basis.astype(np.float32)))

    def mesh(self, coeffs):
        return self.mean + (coeffs @ self.basis).view(len(coeffs), -1, 3)

    def project68(self, coeffs, R, log_s, origin):
        """The 68 landmarks of ``coeffs`` (B, 153) in crop pixels (B, 68, 2), weak perspective: rotation
        ``R`` (B, 3, 3), log-scale ``log_s`` (B,) about ``TEMPLATE_SCALE`` and ``origin`` (B, 2) in [-1, 1]."""
        X = self.lm_mean + (coeffs @ self.lm_basis).view(len(coeffs), -1, 3)        # (B, 68, 3) model cm
        Y = torch.einsum("bij,bkj->bki", R, X)
        s = torch.exp(log_s)[:, None, None] * TEMPLATE_SCALE
        return Y[:, :, :2] * s + (origin[:, None, :] * (COARSE_CROP / 2) + COARSE_CROP / 2)

    def forward(self, out, tgt):
        ident, expr_logit = out[:, :N_IDENTITY], out[:, N_IDENTITY:153]
        expr = torch.sigmoid(expr_logit)
        c_pred = torch.cat([ident, expr], 1)
        c_true = torch.cat([tgt["identity"], tgt["expression"]], 1)
        m_pred, m_true = self.mesh(c_pred), self.mesh(c_true)
        v_err = (m_pred - m_true).abs().sum(2)                                       # (B, V) cm
        l_mesh = (v_err * self.w).sum(1).mean() / self.w.sum()
        # the face's shape: L1 on the face region after aligning position and scale (what the benchmark
        # measures; the plain mesh term is dominated by the head's overall size)
        nf = int((self.w == 5).sum())
        p = m_pred[:, :nf] - m_pred[:, :nf].mean(1, keepdim=True)
        q = m_true[:, :nf] - m_true[:, :nf].mean(1, keepdim=True)
        s = (p * q).sum((1, 2), keepdim=True) / (p * p).sum((1, 2), keepdim=True).clamp_min(1e-6)
        l_shape = (s * p - q).abs().sum(2).mean()
        R = rotation_6d_to_matrix(out[:, 153:159])
        log_s, origin = out[:, 159], out[:, 160:162]
        proj = self.project68(c_pred, R, log_s, origin)
        vis = tgt["lm68_visible"][:, :, None]
        l_lm = ((proj - tgt["lm68"]).abs() * vis).sum((1, 2)).mean() / (68 * 2) / (COARSE_CROP / 100.0)
        l_rot = (R - tgt["R"]).abs().mean()
        l_s = (log_s - tgt["log_s"]).abs().mean() + (origin - tgt["origin"]).abs().mean()
        total = l_mesh + self.shape_weight * l_shape + 0.1 * l_lm + 2.0 * l_rot + l_s
        parts = {"mesh_cm": l_mesh, "shape_cm": l_shape, "landmark": l_lm, "rotation": l_rot, "pose": l_s}
        return total, {k: float(v.detach()) for k, v in parts.items()}


@dataclass(frozen=True)
class TrainConfig:
    """How CoarseNet is trained: the recipe, apart from the data and the files.

    ``steps``: optimiser steps (None: ``epochs`` passes over the data). ``width``: channels of the first block
    (32: 2.5 M parameters). ``flip``: probability of a mirrored training sample. ``precision``: "fp32", or
    "bf16" to run the network's convolutions under bfloat16 autocast (the landmark branches, head and loss
    stay float32; with channels-last tensors a step of 32 takes 120 instead of 170 ms on this 2-core
    AVX512-BF16 CPU; slower on a CPU without bfloat16 instructions). ``workers``: processes that prepare
    and augment the samples while the network trains (one persistent worker carries the random sequence on;
    0: in the training process, the sequence older recipes reproduce). ``threads``: torch's threads in the
    training process (0: torch's default, every core). On this 2-core CPU one worker with one thread is the
    fastest: a bf16 step of 32 takes 105 ms instead of 140 with no worker and two threads. ``spatial``: the
    head sees the last feature map whole (:class:`CoarseNet`). ``eval_every``: held-out evaluation every so
    many steps (logged)."""

    epochs: int = 30
    batch: int = 64
    lr: float = 2e-3
    steps: int | None = None
    seed: int = 0
    width: int = 32
    use_landmarks: bool = True
    flip: float = 0.5
    precision: str = "fp32"
    workers: int = 0
    threads: int = 0
    spatial: bool = False
    eval_every: int = 0

    def check(self) -> None:
        if self.precision not in PRECISIONS:
            raise HeadforgeError(f"Unknown precision {self.precision!r}: use one of {', '.join(PRECISIONS)}.")
        if self.threads < 0:
            raise HeadforgeError(f"threads must be 0 (torch's default) or more, not {self.threads}.")


def train(train_dirs, heldout_dir=None, out="core/weights/coarsenet.onnx", config: TrainConfig | None = None, *,
          limit=None, skip=None, log=print, checkpoint=None, init=None, **settings) -> dict:
    """Train on one or several synthetic sets (``train_dirs``) and export ONNX to ``out`` (None: no file).

    ``config``: the recipe (default :class:`TrainConfig`); ``settings`` change single fields of it
    (``train(data, steps=2, batch=4)``). ``limit``: use the first ``limit`` renders of each set (an int, or
    one per set; None: all); ``skip``: but not the first ``skip`` of them (likewise). ``checkpoint``: also save the torch weights there (the ONNX file has batch norm
    folded into the convolutions). ``init``: start from such a checkpoint (its width and landmark branch; the
    frozen ridge path is kept), or from an exported ``.onnx`` CoarseNet whose checkpoint is gone (its batch
    norms then stay frozen: :func:`~headforge.networks.onnx_export.coarsenet_from_onnx`), instead of from
    scratch; with ``spatial`` a pooled checkpoint's head is widened first with the same outputs
    (:func:`spatial_from_pooled`); a spatial checkpoint stays spatial. Returns the network (``"net"``) and
    what the ONNX metadata records."""
    cfg = replace(config or TrainConfig(), **settings)
    cfg.check()
    with torch_threads(cfg.threads):
        torch.manual_seed(cfg.seed)
        sources = training_sources(train_dirs, limit, skip)
        data = Samples(sources, augment=True, seed=cfg.seed, log=log, flip=cfg.flip)
        if len(data) == 0:
            raise HeadforgeError(f"No usable renders in {', '.join(map(str, train_dirs))} (MediaPipe found "
                                 "no face in any).")
        device = training_device()
        net, cfg = _start_network(cfg, init, data)
        net = net.to(device, memory_format=torch.channels_last)
        crit = MeshLoss(data.part).to(device)
        heldout = None
        if heldout_dir:
            ho = SynthSet(heldout_dir)
            detect_all(ho)
            heldout = Samples(ho, augment=False)
            if cfg.eval_every:
                log(f"held-out at step 0: {evaluate(net.cpu(), heldout, crit.cpu())}")
                net, crit = net.to(device), crit.to(device)
        t0 = time.perf_counter()
        step, hist = _optimise(net, crit, data, cfg, device, heldout, log)
        info = {"steps": step, "train_images": len(data),
                "train_sets": [source_record(src) for src in sources],
                "batch": cfg.batch, "lr": cfg.lr, "seconds": round(time.perf_counter() - t0, 1),
                "use_landmarks": cfg.use_landmarks, "width": cfg.width, "final": hist[-1] if hist else {},
                "device": str(device), "flip": cfg.flip, "started_from": str(init) if init else None,
                "precision": cfg.precision, "spatial": net.spatial}
        net, crit = net.cpu(), crit.cpu()
        if checkpoint:
            save_checkpoint(checkpoint, state_dict=net.state_dict(), width=cfg.width, use_landmarks=cfg.use_landmarks,
                            spatial=net.spatial, frozen_norm=net.frozen_norm, info=json.dumps(info))
        if heldout is not None:
            info["heldout"] = evaluate(net, heldout, crit)
            log(f"held-out: {info['heldout']}")
        if out:
            from .onnx_export import export_onnx

            export_onnx(net, out, meta=info)
    return {"net": net, **info}


def _start_network(cfg: TrainConfig, init, data: Samples) -> tuple[CoarseNet, TrainConfig]:
    """The network to train: from the checkpoint ``init`` (whose width and landmark branch then hold), or new
    with its landmark path set to the ridge optimum and frozen."""
    if not init:
        net = CoarseNet(use_landmarks=cfg.use_landmarks, width=cfg.width, spatial=cfg.spatial)
        if cfg.use_landmarks and len(data) > 10:
            ridge_init(net, data)
            net.lm_linear.requires_grad_(False)  # the linear optimum; the rest learns the residual
        return net, cfg
    try:
        if str(init).endswith(".onnx"):
            net = coarsenet_from_onnx(init)
        else:
            ck = torch.load(init, map_location="cpu", weights_only=True)
            net = CoarseNet(use_landmarks=bool(ck["use_landmarks"]), width=int(ck["width"]),
                            spatial=bool(ck.get("spatial", False)))
            net.load_state_dict(ck["state_dict"])
            net.frozen_norm = bool(ck.get("frozen_norm", False))
        cfg = replace(cfg, width=net.features[0][0].out_channels, use_landmarks=net.use_landmarks)
    except (OSError, KeyError, RuntimeError, ValueError, TypeError, pickle.UnpicklingError) as e:
        raise HeadforgeError(f"Cannot start from {str(init)!r} ({type(e).__name__}: {str(e)[:200]}); give a "
                             "file written by --checkpoint or an exported CoarseNet (.onnx), or train from "
                             "scratch.") from None
    if cfg.spatial:
        net = spatial_from_pooled(net)
    if cfg.use_landmarks:
        net.lm_linear.requires_grad_(False)
    return net, cfg


def _optimise(net, crit, data: Samples, cfg: TrainConfig, device, heldout, log) -> tuple[int, list[dict]]:
    """AdamW with a one-cycle schedule for ``cfg.steps`` (or ``cfg.epochs`` passes). Returns the steps taken
    and each step's loss parts."""
    loader = sample_loader(data, cfg.batch, cfg.workers)
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=1e-4,
                            foreach=True)
    total_steps = cfg.steps or cfg.epochs * len(loader)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(total_steps, 1), pct_start=0.1)
    step, t0, hist = 0, time.perf_counter(), []
    net.train()
    while step < total_steps:
        for x, lm, tgt in loader:
            x, lm = x.to(device, memory_format=torch.channels_last), lm.to(device)
            tgt = {k: v.to(device) for k, v in tgt.items()}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                pred = net(x, lm if cfg.use_landmarks else None)
            loss, parts = crit(pred.float(), tgt)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            hist.append(parts)
            if step % 50 == 0 or step == total_steps:
                log(f"step {step}/{total_steps} loss {float(loss.detach()):.4f} {json.dumps({k: round(v, 4) for k, v in parts.items()})} "
                    f"{time.perf_counter() - t0:.0f} s")
            if heldout is not None and cfg.eval_every and step % cfg.eval_every == 0 and step < total_steps:
                log(f"held-out at step {step}: {evaluate(net, heldout, crit)}")
            if step >= total_steps:
                break
    return step, hist


@torch.no_grad()
def evaluate(net, heldout, crit) -> dict:
    """Face-region vertex error (mm) of the prediction and of the mean face on ``heldout`` (a set's
    directory or un-augmented :class:`Samples`), as is and after a similarity alignment (on the loss's
    vertex subset; ``bench/networks_bench.py`` measures on every face vertex)."""
    if not isinstance(heldout, Samples):
        ho = SynthSet(heldout)
        detect_all(ho)
        heldout = Samples(ho, augment=False)
    data = heldout
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    errs, mean_errs, aligned, mean_aligned = [], [], [], []
    nf = int((crit.w == 5).sum())
    for x, lm, tgt in torch.utils.data.DataLoader(data, batch_size=64):
        x, lm, tgt = x.to(device), lm.to(device), {k: v.to(device) for k, v in tgt.items()}
        out = net(x, lm if net.use_landmarks else None)
        c_pred = torch.cat([out[:, :N_IDENTITY], torch.sigmoid(out[:, N_IDENTITY:153])], 1)
        c_true = torch.cat([tgt["identity"], tgt["expression"]], 1)
        t, p, m0 = (crit.mesh(c)[:, :nf] for c in (c_true, c_pred, torch.zeros_like(c_true)))
        errs.append((p - t).norm(dim=2).mean(1))
        mean_errs.append((m0 - t).norm(dim=2).mean(1))
        for a, out_list in ((p, aligned), (m0, mean_aligned)):
            out_list += [aligned_distance(ai.cpu().numpy(), ti.cpu().numpy()) for ai, ti in zip(a, t)]
    net.train(was_training)
    e, m = torch.cat(errs).mean().item() * 10, torch.cat(mean_errs).mean().item() * 10
    ea, ma = float(np.mean(aligned)) * 10, float(np.mean(mean_aligned)) * 10
    return {"images": len(data), "face_error_mm": round(e, 3), "mean_face_error_mm": round(m, 3),
            "reduction": round(1 - e / m, 4), "aligned_error_mm": round(ea, 3),
            "aligned_mean_face_error_mm": round(ma, 3), "aligned_reduction": round(1 - ea / ma, 4)}



def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["pack"]:
        return pack_main(argv[1:], "train_coarse pack", "CoarseNet", _write_pack)
    ap = argparse.ArgumentParser(description="Train CoarseNet and export it as ONNX.")
    ap.add_argument("--train", required=True, action="append",
                    help="a synthetic set, or a pack (`train_coarse pack`; repeat for several)")
    ap.add_argument("--limit", type=int, action="append",
                    help="use the first N renders of the set or pack (once for all, or once per --train)")
    ap.add_argument("--skip", type=int, action="append",
                    help="but not the first N of them (whole shards; once for all sets, or once per --train)")
    ap.add_argument("--eval-every", type=int, default=0, help="held-out evaluation every N steps")
    ap.add_argument("--heldout")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "core" / "weights" / "coarsenet.onnx"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--no-landmarks", action="store_true", help="image branch only (for comparison)")
    ap.add_argument("--steps", type=int, help="optimiser steps (overrides --epochs)")
    ap.add_argument("--width", type=int, default=32, help="channels of the first block (32: 2.5 M parameters)")
    ap.add_argument("--checkpoint", help="also save the torch weights here (to train further with --init)")
    ap.add_argument("--init", help="start from a --checkpoint file, or an exported CoarseNet (.onnx), instead of "
                                   "from scratch")
    ap.add_argument("--flip", type=float, default=0.5, help="probability of a mirrored training sample")
    ap.add_argument("--precision", choices=PRECISIONS, default="fp32",
                    help="bf16: bfloat16 autocast for the network (faster on CPUs with AVX512-BF16)")
    ap.add_argument("--workers", type=int, default=0, help="sample-preparing processes beside the training")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads in the training process (0: torch's default; 1 with --workers 1 on 2 cores)")
    ap.add_argument("--seed", type=int, default=0, help="seeds the network's start, the sample order and the augmentation")
    ap.add_argument("--spatial", action="store_true",
                    help="the head sees the 4x4 feature map, not its average (widens a pooled --init checkpoint)")
    args = ap.parse_args(argv)
    try:
        cfg = TrainConfig(epochs=args.epochs, batch=args.batch, lr=args.lr, steps=args.steps, width=args.width,
                          use_landmarks=not args.no_landmarks, flip=args.flip, precision=args.precision,
                          workers=args.workers, threads=args.threads, spatial=args.spatial, eval_every=args.eval_every,
                          seed=args.seed)
        train(args.train, args.heldout, args.out, cfg, limit=args.limit, skip=args.skip, checkpoint=args.checkpoint, init=args.init)
    except (HeadforgeError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
