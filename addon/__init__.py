"""Blender glue, and only that: everything here calls bpy (Blender only).

* ``conversion``: every numpy <-> Blender conversion (points, vertices, shape keys, images, colour, cameras);
  ``schema``: the names of what Headforge stores on objects; ``nodes``: shader-node wiring.
* Builders, importing downward only: ``detail`` (Displace, normal map) -> ``build`` (head, materials,
  camera from an ``Avatar``); ``rig`` (shape keys, armature, LODs) -> ``export`` (the one glTF/FBX writer);
  ``files`` (empty scene, ``head.blend``); ``synth_scene`` / ``synth_worker`` (the synthetic set's Cycles
  scene, in its own process).
* Game copies for the exporters: ``game``; the render-ready scene of ``head.blend``: ``stage``.
* The sidebar: ``properties``, ``preferences``, ``panel``; the viewport's landmark overlay: ``overlay``.

Imports ``core`` and bpy; ``core`` and ``networks`` never import this package.
"""

from __future__ import annotations


def register():
    from . import overlay, panel, preferences, properties

    preferences.register()
    properties.register()
    panel.register()
    overlay.register()


def unregister():
    from . import overlay, panel, preferences, properties

    overlay.unregister()
    panel.unregister()
    properties.unregister()
    preferences.unregister()
