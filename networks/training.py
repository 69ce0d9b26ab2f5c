"""What the networks' trainings share: photo-like augmentation, the torch thread count of one run, checkpoints
written atomically, packs (a set's training samples in one small file, for a machine that cannot reach the
renders) and their command line, and (SegNet's and LandmarkNet's) the resumable step loop, its command line and
its export."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

from ..core.errors import HeadforgeError
from .dataset import SynthSet

#: ``--train`` tells a pack from a synthetic set by this ending
PACK_SUFFIX = ".npz"


def augment_image(img: np.ndarray, rng: np.random.Generator, occluders: bool = True) -> np.ndarray:
    """Colour, blur, noise, JPEG and (optionally) occluders: what separates renders from phone photos.
    ``img``: ``(H, W, 3)`` uint8; returns the same shape and dtype."""
    f = img.astype(np.float32)
    f = (f - 128) * rng.uniform(0.7, 1.3) + 128 + rng.uniform(-30, 30)      # contrast, brightness
    gray = f.mean(2, keepdims=True)
    f = gray + (f - gray) * rng.uniform(0.6, 1.4)                           # saturation
    f *= rng.uniform(0.85, 1.15, 3)                                          # white balance
    if rng.random() < 0.4:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.3, 1.5))
    if rng.random() < 0.5:
        f += rng.normal(0, rng.uniform(1, 8), f.shape)
    f = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 90))])
        f = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if occluders and rng.random() < 0.3:  # occluder: a hand, hair, glasses-like bar
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        x0, y0 = rng.integers(0, f.shape[1], 2)
        if rng.random() < 0.5:
            cv2.rectangle(f, (int(x0), int(y0)), (int(x0 + rng.integers(10, 50)), int(y0 + rng.integers(5, 30))), c, -1)
        else:
            cv2.ellipse(f, (int(x0), int(y0)), (int(rng.integers(8, 30)), int(rng.integers(8, 30))),
                        float(rng.uniform(0, 180)), 0, 360, c, -1)
    return f


@contextlib.contextmanager
def torch_threads(n: int):
    """Within the block torch uses ``n`` threads (0: leave torch's setting); the caller's count is restored
    afterwards."""
    if n < 0:
        raise HeadforgeError(f"threads must be 0 (torch's default) or more, not {n}.")
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def save_checkpoint(path, **content) -> Path:
    """``torch.save(content)`` to ``path`` atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    torch.save(content, tmp)
    tmp.replace(path)
    return path


def training_device() -> torch.device:
    """Where the networks train: the GPU when torch sees one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _reseed_worker(worker: int) -> None:
    """Each loader process draws its own augmentations: the dataset's ``rng`` reseeded from torch's per-worker
    seed (a copied generator would repeat the others' draws)."""
    info = torch.utils.data.get_worker_info()
    info.dataset.rng = np.random.default_rng(info.seed)


def sample_loader(data, batch: int, workers: int = 0) -> torch.utils.data.DataLoader:
    """Shuffled batches of ``data`` (a dataset with an ``rng`` attribute), prepared in ``workers`` processes
    beside the training (0: in the training process)."""
    return torch.utils.data.DataLoader(data, batch_size=min(batch, len(data)), shuffle=True, drop_last=True,
                                       num_workers=workers, persistent_workers=workers > 0,
                                       worker_init_fn=_reseed_worker if workers else None,
                                       pin_memory=torch.cuda.is_available())


def to_device(batch, device):
    """A loader's batch (tensors, or tuples, lists and dicts of them) moved to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return type(batch)(to_device(v, device) for v in batch)


def step_main(argv, description: str, train, steps: int, batch: int, lr: float, width: int) -> int:
    """The command line of a :func:`run_steps` training: ``train(train_dirs, heldout_dir, out, steps, batch, lr,
    width, limit, checkpoint, workers=..., skip=...)`` with these defaults; a bad set exits with its message."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--train", required=True, action="append", help="a synthetic set (repeat for several)")
    ap.add_argument("--heldout")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--width", type=int, default=width)
    ap.add_argument("--limit", type=int, action="append",
                    help="use the first N renders of the set (whole shards; once for all sets, or once per --train)")
    ap.add_argument("--skip", type=int, action="append",
                    help="leave out the set's first N renders (whole shards; held out elsewhere; once for all sets, "
                         "or once per --train)")
    ap.add_argument("--checkpoint", help="resumable training state (written every 250 steps)")
    ap.add_argument("--workers", type=int, default=0, help="sample-preparing processes beside the training")
    args = ap.parse_args(argv)
    try:
        train(args.train, args.heldout, args.out, args.steps, args.batch, args.lr, args.width, args.limit,
              args.checkpoint, workers=args.workers, skip=args.skip)
    except (HeadforgeError, FileNotFoundError) as e:
        raise SystemExit(str(e)) from None
    return 0


def training_sources(train_dirs, limit, skip=0) -> list:
    """``--train`` arguments (synthetic sets, or packs ending in :data:`PACK_SUFFIX`) with their limits (and the
    renders of sets to skip): a :class:`SynthSet` per set, ``(path, limit)`` per pack."""
    train_dirs = [train_dirs] if isinstance(train_dirs, (str, Path)) else list(train_dirs)
    n = len(train_dirs)
    return [(Path(d), lim) if str(d).endswith(PACK_SUFFIX) else SynthSet(d, limit=lim, skip=sk or 0)
            for d, lim, sk in zip(train_dirs, per_set(limit, n, "limits"), per_set(skip, n, "skips"))]


def encode_images(images, ext: str, params: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Images encoded by OpenCV (``ext`` ".jpg" or ".png") and concatenated into one byte array, with each
    one's end: how a pack holds its images."""
    blobs = [cv2.imencode(ext, im, params)[1].ravel() for im in images]
    return (np.concatenate(blobs) if blobs else np.zeros(0, np.uint8)), np.cumsum([len(b) for b in blobs])


def decode_image(blob: np.ndarray, ends: np.ndarray, k: int) -> np.ndarray:
    """The ``k``-th image of :func:`encode_images`' byte array."""
    return cv2.imdecode(blob[(ends[k - 1] if k else 0):ends[k]], cv2.IMREAD_UNCHANGED)


def pack_main(argv, prog: str, network: str, write) -> int:
    """The command line that packs synthetic sets for ``network``: ``write(sources, out) -> renders packed``,
    ``sources`` from :func:`training_sources`; a bad set or name exits with its message."""
    ap = argparse.ArgumentParser(prog=prog, description=f"Write synthetic sets' usable renders, cut to {network}'s "
                                 "crop, into one small file that --train takes.")
    ap.add_argument("--train", required=True, action="append", help="a synthetic set (repeat for several)")
    ap.add_argument("--limit", type=int, action="append",
                    help="use the first N renders of the set (whole shards; once for all sets, or once per --train)")
    ap.add_argument("--skip", type=int, action="append", default=None,
                    help="leave out the set's first N renders (whole shards; once for all sets, or once per --train)")
    ap.add_argument("--out", required=True, help=f"the pack (ending in {PACK_SUFFIX})")
    args = ap.parse_args(argv)
    if not args.out.endswith(PACK_SUFFIX):
        raise SystemExit(f"The pack's name must end in {PACK_SUFFIX} (--train tells packs from sets by it).")
    if any(str(t).endswith(PACK_SUFFIX) for t in args.train):
        raise SystemExit("Pack synthetic sets (folders), not packs.")
    try:
        count = write(training_sources(args.train, args.limit, args.skip or 0), args.out)
    except (HeadforgeError, FileNotFoundError) as e:
        raise SystemExit(str(e)) from None
    print(f"{count} renders -> {args.out} ({Path(args.out).stat().st_size / 2**20:.1f} MB)")
    return 0


def per_set(values, n_sets: int, what: str) -> list:
    """A value per training set from one value (or one in a list) for all, or one per set."""
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if len(values) == 1:
        values = values * n_sets
    if len(values) != n_sets:
        raise HeadforgeError(f"{len(values)} {what} for {n_sets} training sets: give one, or one per set.")
    return values


def run_info(train_dirs, limit: int | None, images: int, losses: list[float], skip=None, **settings) -> dict:
    """What a :func:`run_steps` training records in its ONNX metadata: ``settings`` (steps, batch, lr, width),
    the training sets and images (``limit``, ``skip``: of each set), and the final loss."""
    return {**settings, "train_images": images, "train_sets": [str(d) for d in train_dirs], "limit": limit,
            "skip": skip,
            "final_loss": round(float(np.mean(losses[-50:])), 4) if losses else None}


def export_and_evaluate(net, info: dict, out, evaluate=None, log=print) -> dict:
    """Write ``net`` to ``out`` as ONNX with ``info`` as its metadata (None: not written), after
    ``evaluate(onnx_path) -> dict`` (if given) measured an exported copy, as the product runs it, into
    ``info["heldout"]``. Returns ``info``."""
    from .onnx_export import export_onnx

    net = net.cpu().eval()
    if evaluate is not None:
        with tempfile.TemporaryDirectory() as tmp:
            info["heldout"] = evaluate(export_onnx(net, Path(tmp) / "probe.onnx", meta=info))
        log(f"held-out: {info['heldout']}")
    if out:
        export_onnx(net, out, meta=info)
    return info


def run_steps(net, batches, loss_of, *, steps: int, lr: float, clip: float | None = None, checkpoint=None, log=print,
              **saved) -> list[float]:
    """Train ``net`` for ``steps`` AdamW steps on a one-cycle learning rate (on the GPU when there is one, else
    the CPU), ``loss_of(batch)`` the loss of one batch of the DataLoader ``batches``; resumed from
    ``checkpoint`` when it exists (a checkpoint of a run with other ``steps`` goes on at its step on this run's
    schedule) and written there every 250 steps with ``saved`` beside the state. ``clip``: the gradients'
    largest norm (None: not clipped). Returns the losses of the steps run."""
    device = training_device()
    net.to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    step = 0
    if checkpoint and Path(checkpoint).exists():
        state = torch.load(checkpoint, weights_only=False, map_location=device)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        if state.get("steps") == steps:
            sched.load_state_dict(state["sched"])
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                for _ in range(min(step, steps)):
                    sched.step()
        log(f"resumed at step {step} from {checkpoint}")
    t0, losses = time.perf_counter(), []
    net.train()
    while step < steps:
        for batch in batches:
            loss = loss_of(to_device(batch, device))
            opt.zero_grad()
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
            opt.step()
            sched.step()
            step += 1
            losses.append(float(loss.detach()))
            if step % 50 == 0 or step == steps:
                log(f"step {step}/{steps} loss {np.mean(losses[-50:]):.4f} {time.perf_counter() - t0:.0f} s")
            if checkpoint and (step % 250 == 0 or step == steps):
                save_checkpoint(checkpoint, net=net.state_dict(), opt=opt.state_dict(), sched=sched.state_dict(),
                                step=step, steps=steps, **saved)
            if step >= steps:
                break
    return losses
