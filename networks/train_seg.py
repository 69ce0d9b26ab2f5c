"""Train SegNet on synthetic sets of version 2 (their part masks know hair, eyebrows, beards and glasses);
evaluate on a held-out set; export ``core/weights/segnet.onnx``.

``python -m headforge.networks.train_seg --train DATA --heldout HELDOUT --out core/weights/segnet.onnx``

``python -m headforge.networks.train_seg pack --train DATA --out PACK.npz`` writes a set's usable renders already
cut to the crop (with a margin for the jitter) into one small file, and ``--train PACK.npz`` trains on it: how the
samples travel to a machine that cannot reach the renders (a lent GPU), 7 KB a render instead of 150.

Crops are aligned as at inference (``core.segment.seg_align``) on MediaPipe's detections in the renders
(cached beside them), jittered (scale, rotation, shift), mirrored, recoloured, blurred and recompressed
(``training.augment_image``); random shapes pasted over a third of them are labelled "other" (things in
front of the face). Loss: cross-entropy weighted against class frequency. Resumable from ``--checkpoint``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from ..core.errors import HeadforgeError
from ..core.fileio import atomic_path
from ..core.segment import (BACKGROUND, BEARD, BROWS, CLASSES, GLASSES, HAIR, OTHER, SEG_CROP, SKIN, SegNetOnnx,
                            seg_align, warp_to_crop)
from ..core.synth import (MASK_BACKGROUND, MASK_BEARD, MASK_BROWS, MASK_EYES, MASK_FACE, MASK_GLASSES, MASK_HAIR,
                          MASK_CLOTHES, MASK_HEAD, MASK_MOUTH, MASK_OTHER)
from .dataset import SynthSet, detect_all, detections
from .segnet import SegNet
from .training import (augment_image, decode_image, encode_images, export_and_evaluate, pack_main,
                       run_info, run_steps, sample_loader, step_main, training_device, training_sources)

IGNORE = 255  #: label of crop pixels outside the render
#: a pack holds each render cut to the crop at inference's alignment with this margin (px) around it, which the
#: jitter's shifts, rotations and shrinking reach into
PACK_MARGIN = 28

#: the synthetic part mask's values -> SegNet's classes
PART_CLASS = np.full(256, IGNORE, np.uint8)
for _part, _cls in ((MASK_BACKGROUND, BACKGROUND), (MASK_FACE, SKIN), (MASK_HEAD, SKIN), (MASK_EYES, SKIN),
                    (MASK_MOUTH, SKIN), (MASK_HAIR, HAIR), (MASK_BROWS, BROWS), (MASK_BEARD, BEARD),
                    (MASK_GLASSES, GLASSES), (MASK_OTHER, OTHER), (MASK_CLOTHES, OTHER)):
    PART_CLASS[_part] = _cls


def class_map(mask: np.ndarray) -> np.ndarray:
    """A render's part mask ``(H, W)`` -> SegNet's classes; glasses' frames (a pixel or two wide in a render)
    widened by a pixel so that they survive the crop's resampling."""
    out = PART_CLASS[mask]
    frames = cv2.dilate((mask == MASK_GLASSES).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    out[frames & (out != BACKGROUND)] = GLASSES
    return out


def crop_labels(classes: np.ndarray, M: np.ndarray) -> np.ndarray:
    """A render's classes resampled into the crop; pixels outside the render are ``IGNORE``."""
    inside = cv2.warpAffine(np.ones(classes.shape, np.uint8), M, (SEG_CROP, SEG_CROP), flags=cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.where(inside > 0, warp_to_crop(classes, M, nearest=True), IGNORE).astype(np.uint8)


class SegSamples(torch.utils.data.Dataset):
    """The renders where MediaPipe found the face, held in memory with their classes and their alignment to
    the crop. ``sources``: synthetic sets and packs (:func:`pack_samples`).
    ``ds[n]`` -> ``(image (3, S, S) float32 in [-1, 1], labels (S, S) int64)``."""

    def __init__(self, sources: list, augment: bool, seed: int = 0):
        self.augment, self.rng = augment, np.random.default_rng(seed)
        self.images, self.classes, self.aligns = [], [], []
        for src in sources:
            if isinstance(src, SynthSet):
                self._add_set(src)
            else:
                self._add_pack(*src)

    def _add_set(self, ds: SynthSet) -> None:
        if ds.config.version < 2:
            raise HeadforgeError(f"{str(ds.root)!r} is a version-1 set: its masks know no hair, eyebrows, "
                                 "beards or glasses. Render with `headforge synth --version 2`.")
        detect_all(ds)
        pts, ok = detections(ds)
        for n in np.flatnonzero(ok):
            self.images.append(ds.image(n))
            self.classes.append(class_map(ds[n]["mask"]))
            self.aligns.append(seg_align(pts[n]))

    def _add_pack(self, path, limit: int | None = None) -> None:
        try:
            with np.load(path) as z:
                jpeg, jpeg_ends, png, png_ends = z["jpeg"], z["jpeg_ends"], z["png"], z["png_ends"]
        except (OSError, ValueError, KeyError) as e:
            raise HeadforgeError(f"{str(path)!r} is not a SegNet pack ({e}); write one with "
                                 "`python -m headforge.networks.train_seg pack`.") from None
        shift = np.array([[1.0, 0, -PACK_MARGIN], [0, 1.0, -PACK_MARGIN]])
        for k in range(len(jpeg_ends) if limit is None else min(limit, len(jpeg_ends))):
            self.images.append(decode_image(jpeg, jpeg_ends, k))
            self.classes.append(decode_image(png, png_ends, k))
            self.aligns.append(shift)

    def __len__(self):
        return len(self.images)

    def crop(self, n: int, M: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Render ``n`` and its labels in the crop (at inference's alignment unless ``M`` is given)."""
        M = self.aligns[n] if M is None else M
        return warp_to_crop(self.images[n], M), crop_labels(self.classes[n], M)

    def _jittered(self, n: int) -> np.ndarray:
        r = self.rng
        M = np.vstack([self.aligns[n], [0, 0, 1]])
        c = SEG_CROP / 2
        J = cv2.getRotationMatrix2D((c, c), float(r.uniform(-10, 10)), float(r.uniform(0.88, 1.12)))
        J[:, 2] += r.uniform(-6, 6, 2)
        return (np.vstack([J, [0, 0, 1]]) @ M)[:2]

    def _occlude(self, img: np.ndarray, lab: np.ndarray) -> None:
        """A random shape in a random colour pasted over the crop, labelled "other"."""
        r = self.rng
        shape = np.zeros(lab.shape, np.uint8)
        x, y = (int(v) for v in r.integers(16, SEG_CROP - 16, 2))
        if r.random() < 0.5:
            w, h = (int(v) for v in r.integers(8, 48, 2))
            cv2.rectangle(shape, (x - w // 2, y - h // 2), (x + w // 2, y + h // 2), 1, -1)
        else:
            cv2.ellipse(shape, (x, y), tuple(int(v) for v in r.integers(6, 30, 2)), float(r.uniform(0, 180)),
                        0, 360, 1, -1)
        on = shape > 0
        img[on] = np.clip(r.integers(0, 256, 3) + r.normal(0, r.uniform(0, 20), (on.sum(), 3)), 0, 255)
        lab[on & (lab != IGNORE)] = OTHER

    def __getitem__(self, n):
        if not self.augment:
            img, lab = self.crop(n)
        else:
            img, lab = self.crop(n, self._jittered(n))
            if self.rng.random() < 0.3:
                self._occlude(img, lab)
            img = augment_image(img, self.rng, occluders=False)
            if self.rng.random() < 0.5:
                img, lab = img[:, ::-1], lab[:, ::-1]
        return (torch.from_numpy(np.ascontiguousarray(img.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0)),
                torch.from_numpy(np.ascontiguousarray(lab).astype(np.int64)))

    def class_weights(self, n: int = 400) -> torch.Tensor:
        """Cross-entropy weights: inverse square root of each class's share of the first ``n`` crops
        (normalised to a mean of 1; "other" counted as a third of the crops pasted over)."""
        counts = np.ones(len(CLASSES))
        for k in range(min(n, len(self))):
            lab = self.crop(k)[1]
            counts += np.bincount(lab[lab != IGNORE], minlength=len(CLASSES))[:len(CLASSES)]
        counts[OTHER] = counts.sum() * 0.3 * 0.03
        w = 1.0 / np.sqrt(counts / counts.sum())
        return torch.tensor(w / w.mean(), dtype=torch.float32)


def pack_samples(data: SegSamples, path, quality: int = 92) -> Path:
    """Write ``data``'s renders cut to the crop, with :data:`PACK_MARGIN` around it, as one ``.npz`` (JPEG
    images and PNG classes, concatenated), atomically."""
    size = SEG_CROP + 2 * PACK_MARGIN
    images, classes = [], []
    for n in range(len(data)):
        M = data.aligns[n] + np.array([[0, 0, PACK_MARGIN], [0, 0, PACK_MARGIN]])
        shrink = abs(np.linalg.det(M[:, :2])) < 1
        img = cv2.warpAffine(data.images[n], M, (size, size), flags=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        lab = cv2.warpAffine(data.classes[n], M, (size, size), flags=cv2.INTER_NEAREST,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=IGNORE)
        images.append(img)
        classes.append(lab)
    jpeg, jpeg_ends = encode_images(images, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, quality])
    png, png_ends = encode_images(classes, ".png", [cv2.IMWRITE_PNG_COMPRESSION, 9])
    with atomic_path(path) as tmp:
        np.savez(tmp, jpeg=jpeg, jpeg_ends=jpeg_ends, png=png, png_ends=png_ends)
    return Path(path)


def evaluate(probabilities, data: SegSamples) -> dict:
    """Per-class IoU over held-out crops (at inference's alignment), the pixel accuracy, and the IoU of
    "covering" (hair, beard, glasses and other together, what the texture leaves out) against the rest.
    ``probabilities``: an aligned uint8 crop -> ``(C, S, S)``."""
    over_skin = (HAIR, BEARD, GLASSES, OTHER)
    inter, union = np.zeros(len(CLASSES)), np.zeros(len(CLASSES))
    cov_i = cov_u = right = total = 0
    for n in range(len(data)):
        img, lab = data.crop(n)
        pred = probabilities(img).argmax(0)
        ok = lab != IGNORE
        p, t = pred[ok], lab[ok]
        for c in range(len(CLASSES)):
            inter[c] += np.sum((p == c) & (t == c))
            union[c] += np.sum((p == c) | (t == c))
        pc, tc = np.isin(p, over_skin), np.isin(t, over_skin)
        cov_i += np.sum(pc & tc)
        cov_u += np.sum(pc | tc)
        right += np.sum(p == t)
        total += len(t)
    iou = {f"iou_{c}": round(float(inter[k] / union[k]), 4) for k, c in enumerate(CLASSES) if union[k] > 0}
    return {"images": len(data), "pixel_accuracy": round(float(right / max(total, 1)), 4),
            "covering_iou": round(float(cov_i / max(cov_u, 1)), 4), **iou}


def train(train_dirs, heldout_dir=None, out=None, steps=3000, batch=16, lr=3e-3, width=12, limit=None,
          checkpoint=None, seed=0, log=print, workers=0, skip=None) -> dict:
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    data = SegSamples(training_sources(train_dirs, limit, skip), augment=True, seed=seed)
    if len(data) == 0:
        raise HeadforgeError(f"No usable renders in {', '.join(map(str, train_dirs))}.")
    log(f"{len(data)} renders in memory ({time.perf_counter() - t0:.0f} s)")
    net = SegNet(width)
    crit = torch.nn.CrossEntropyLoss(weight=data.class_weights().to(training_device()), ignore_index=IGNORE)
    losses = run_steps(net, sample_loader(data, batch, workers), lambda b: crit(net(b[0]), b[1]), steps=steps,
                       lr=lr, checkpoint=checkpoint, log=log, width=width)
    info = run_info(train_dirs, limit, len(data), losses, skip, steps=steps, batch=batch, lr=lr, width=width)

    def heldout(path):
        return evaluate(SegNetOnnx(path).probabilities, SegSamples([SynthSet(heldout_dir)], augment=False))

    export_and_evaluate(net, info, out, heldout if heldout_dir else None, log)
    return {"net": net, **info}


def _write_pack(sources, out) -> int:
    data = SegSamples(sources, augment=False)
    pack_samples(data, out)
    return len(data)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["pack"]:
        return pack_main(argv[1:], "train_seg pack", "SegNet", _write_pack)
    return step_main(argv, "Train SegNet and export it as ONNX.", train, steps=3000, batch=16, lr=3e-3, width=12)


if __name__ == "__main__":
    raise SystemExit(main())
