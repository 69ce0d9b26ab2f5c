"""Track Video: a clip of a face -> the selected rigged head's performance (an action of its shape keys and head
bone), as one undo step. The tracking runs in a worker thread with progress (Esc cancels); from scripts:
``bpy.ops.headforge.track_video(filepath="clip.mp4")`` with the head active."""

from __future__ import annotations

from pathlib import Path

import bpy

from ..addon import schema
from .background import BackgroundOperator


class HEADFORGE_OT_track_video(BackgroundOperator, bpy.types.Operator):
    """Track the face in a video and animate the selected rigged head with it (shape keys and head bone, one key
    per frame; the scene takes the clip's frame rate and length)"""

    bl_idname = "headforge.track_video"
    bl_label = "Track Video"
    bl_options = {"REGISTER", "UNDO"}
    job = "Track Video"

    filepath: bpy.props.StringProperty(name="Video", subtype="FILE_PATH",
                                       description="A clip of the person's face (mp4, mov, avi, ...) or a folder of "
                                                   "frames")
    jaw_bone: bpy.props.BoolProperty(name="Jaw by Bone", default=False,
                                     description="Open the mouth with the jaw bone instead of the jawOpen shape key")

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        return obj is not None and bool(obj.get(schema.HEAD)) and bool(obj.get(schema.RIG))

    def _validate(self, context) -> str | None:
        from ..addon.preferences import face_model_path
        from ..addon.performance import head_shape
        from ..core import load_face_model
        from ..core.errors import HeadforgeError

        if not self.filepath:
            return "Pick a video first (Video field in the Headforge panel)."
        if not Path(bpy.path.abspath(self.filepath)).exists():
            return f"The video {bpy.path.abspath(self.filepath)!r} does not exist. Check the path."
        head = context.active_object
        try:   # read on the main thread: the worker may not touch Blender data
            self._model = load_face_model(face_model_path())
            self._head, self._shape = head, head_shape(head, self._model)
        except HeadforgeError as e:
            return str(e)
        return None

    def _work(self, progress=None, should_stop=None):
        from ..core.track import track_video

        def frames(k, count):
            if progress is not None:
                progress("tracking", k / count if count > 0 else 0.0)

        return track_video(bpy.path.abspath(self.filepath), self._model, self._shape, frames, should_stop)

    def _build(self, context, track):
        from ..addon.performance import apply_track

        action = apply_track(self._head, track, self._model, context.scene,
                             f"{self._head.name} {Path(self.filepath).stem}", bpy.path.abspath(self.filepath),
                             jaw_bone=self.jaw_bone)
        lost = track.lost
        self.report({"INFO"}, f"Tracked {len(track.frames)} frames at {track.fps:.2f} fps into {action.name!r} "
                              f"({len(track.frames) / track.seconds:.0f} frames per second)"
                              + (f"; {len(lost)} frames without a face hold the last pose" if lost else ""))


def register():
    bpy.utils.register_class(HEADFORGE_OT_track_video)


def unregister():
    bpy.utils.unregister_class(HEADFORGE_OT_track_video)
