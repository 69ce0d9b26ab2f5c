"""Thin Blender operators: validate input, run core work off the main thread, build data on it."""

from __future__ import annotations


def register():
    from . import create_head, rig_export, synth_preview, track_video

    create_head.register()
    rig_export.register()
    synth_preview.register()
    track_video.register()


def unregister():
    from . import create_head, rig_export, synth_preview, track_video

    track_video.unregister()
    synth_preview.unregister()
    rig_export.unregister()
    create_head.unregister()
