"""A scene ready to render a head (main thread only): Cycles, a world lit by Blender's bundled studio HDRI,
a key and a rim light placed from the photo camera.

``head.blend`` gets this stage, so F12 renders the head as a portrait straight away. Create Head in Blender
adds it only to a scene that has no world and no lights (an artist's own lighting is left alone).
"""

from __future__ import annotations

import math
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix, Vector

#: Blender's bundled studio HDRI (CC0, Greg Zaal / Poly Haven: studiolights/world/license.txt), packed into the
#: file
HDRI = "studio.exr"
WORLD_STRENGTH = 0.5
#: what the camera sees behind the head (linear grey)
BACKDROP = 0.03
#: (name, azimuth from the camera's direction in degrees (+: the camera's right), elevation in degrees,
#: distance in head heights, size in head heights, power in watts)
LIGHTS = (("Key light", 40.0, 30.0, 4.0, 2.0, 20.0),
          ("Rim light", 150.0, 25.0, 4.0, 1.5, 30.0))
SAMPLES = 64


def hdri_dir() -> Path:
    """Blender's bundled studio HDRIs (also the synthetic set's world lights)."""
    return Path(bpy.utils.system_resource("DATAFILES", path="studiolights/world"))


def needs_stage(scene) -> bool:
    """True for a scene with no world and no lights: one nobody has lit yet."""
    return scene.world is None and not any(o.type == "LIGHT" for o in scene.objects)


def stage_head(head, camera, scene=None, collection=None) -> dict:
    """Make ``scene`` (default: the current one) ready to render ``head`` through ``camera``: Cycles
    (``SAMPLES`` samples, denoised), the camera active, a world from the studio HDRI (packed), and the lights
    of :data:`LIGHTS` aimed at the head's centre, linked into ``collection`` (default: the head's first
    collection). Returns ``{"world", "lights"}``."""
    scene = scene or bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.samples = SAMPLES
    scene.cycles.use_denoising = True
    scene.camera = camera
    scene.world = _studio_world(f"{head.name} studio")
    coll = collection or head.users_collection[0]
    corners = np.array([head.matrix_world @ Vector(c) for c in head.bound_box])
    centre = Vector(corners.mean(0))
    height = float(np.ptp(corners, axis=0).max())
    view = centre - camera.matrix_world.translation  # camera -> head
    view.z = 0.0
    base = math.atan2(-view.y, -view.x) if view.length > 1e-6 else -math.pi / 2  # azimuth of the camera side
    lights = []
    for name, az, el, dist, size, power in LIGHTS:
        a, e = base + math.radians(az), math.radians(el)
        offset = Vector((math.cos(a) * math.cos(e), math.sin(a) * math.cos(e), math.sin(e))) * dist * height
        data = bpy.data.lights.new(f"{head.name} {name.lower()}", "AREA")
        data.shape = "DISK"
        data.size = size * height
        data.energy = power
        obj = bpy.data.objects.new(f"{head.name} {name.lower()}", data)
        obj.matrix_world = Matrix.Translation(centre + offset) @ \
            (-offset).to_track_quat("-Z", "Y").to_matrix().to_4x4()
        coll.objects.link(obj)
        lights.append(obj)
    return {"world": scene.world, "lights": lights}


def _studio_world(name: str) -> "bpy.types.World":
    """The studio HDRI lights the head; the camera sees a plain dark grey backdrop instead of the HDRI."""
    world = bpy.data.worlds.new(name)
    if world.node_tree is None:
        world.use_nodes = True
    nt = world.node_tree
    out = next(n for n in nt.nodes if n.type == "OUTPUT_WORLD")
    bg = next(n for n in nt.nodes if n.type == "BACKGROUND")
    env = nt.nodes.new("ShaderNodeTexEnvironment")
    env.image = bpy.data.images.load(str(hdri_dir() / HDRI), check_existing=True)
    env.image.pack()
    nt.links.new(env.outputs["Color"], bg.inputs["Color"])
    bg.inputs["Strength"].default_value = WORLD_STRENGTH
    backdrop = nt.nodes.new("ShaderNodeBackground")
    backdrop.inputs["Color"].default_value = (*[BACKDROP] * 3, 1.0)
    mix = nt.nodes.new("ShaderNodeMixShader")
    path = nt.nodes.new("ShaderNodeLightPath")
    nt.links.new(path.outputs["Is Camera Ray"], mix.inputs["Fac"])
    nt.links.new(bg.outputs["Background"], mix.inputs[1])
    nt.links.new(backdrop.outputs["Background"], mix.inputs[2])
    nt.links.new(mix.outputs["Shader"], out.inputs["Surface"])
    return world
