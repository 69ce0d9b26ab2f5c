"""The shipped networks' common part: an exported ONNX network in an onnxruntime session (thread-safe), its
training metadata, and one error type per network whose message says what the head is made without."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from .errors import HeadforgeError


class OnnxNetwork:
    """``path``: the ``.onnx`` file. ``name``: the network's name in messages. ``error``: the
    :class:`HeadforgeError` subclass raised when the file is missing or unreadable or onnxruntime is not
    installed; ``without``: what happens then (e.g. "the fit starts from the mean face"); ``remedy``: how to
    get the file back."""

    def __init__(self, path: str | Path, name: str, error: type[HeadforgeError], without: str, remedy: str):
        path = Path(path)
        if not path.exists():
            raise error(f"{name} weights {str(path)!r} are missing; {without}. {remedy}")
        try:
            import onnxruntime as ort
        except ImportError:
            raise error(f"onnxruntime is not installed (pip install onnxruntime); {without}.") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        # no busy-waiting between runs: onnxruntime's threads spin after each run by default, and numpy's
        # solves between two runs (a video frame's fit after CoarseNet's guess) then ran 50 times slower
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        avail = ort.get_available_providers()
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=[
                p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in avail])
        except Exception as e:  # onnxruntime raises its own types for corrupt models
            raise error(f"{name} weights {str(path)!r} cannot be loaded ({type(e).__name__}: {str(e)[:200]}); "
                        f"{without}. {remedy}") from None
        #: what training recorded (``{"network": kind, ...}``)
        self.meta = json.loads(self.session.get_modelmeta().custom_metadata_map.get("headforge", "{}"))
        self.inputs = [i.name for i in self.session.get_inputs()]
        self._lock = threading.Lock()

    def run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The network's outputs for ``feed`` (input name -> array)."""
        with self._lock:
            return self.session.run(None, feed)


_loaded: dict = {}
_loaded_lock = threading.Lock()


def cached(cls, path):
    """One instance of ``cls(path)`` per class and path for the whole process."""
    key = (cls, str(path))
    with _loaded_lock:
        if key not in _loaded:
            _loaded[key] = cls(path)
        return _loaded[key]
