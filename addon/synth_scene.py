"""The Cycles scene that renders synthetic training faces (Digital Twin section 3.2, Cycles not V-Ray).

One :class:`SynthScene` lives in its own Blender scene ("Headforge synth"), so it never touches the
user's scenes. It is built once; per sample only vertex positions, material values, lights, camera and
background change, then Cycles renders (CPU, denoised, AgX view transform, 8-bit sRGB).

* Skin: a procedural Principled BSDF: base tone by melanin, redness blotches, lips and brows from UV masks
  made at the person's landmarks, stubble, freckles, pores as bump, roughness/specular/subsurface
  variation. Eyes, teeth, gums and lashes use the part materials of :mod:`headforge.addon.build`.
* Light: one of Blender's bundled CC0 studio HDRIs, rotated and scaled, plus 0-3 area lights.
* Background: the HDRI itself, or a plane behind the head with procedural clutter or blurred noise.
* With fine detail: Cycles displacement ("Displacement and Bump") of the subdivided head by the sample's UV
  displacement map: geometry where the mesh resolves it, bump below that.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix, Vector

from ..core import synth as S
from ..core.camera import Camera
from ..core.facemodel import FaceModel
from ..core.accessories import brim, earring_curves, hat_shell, headband_shell, joined, occluder_mesh
from ..core.clothes import garment
from ..core.eyes import eye_texture
from ..core.glasses import glasses_geometry
from ..core.image import linear_to_srgb
from ..core.hair import (HAIR_GROUPS, SCALP_COVER, facial_hair_strands, facial_strand_radii, hair_srgb, hair_strands,
                         strand_radii)
from .build import build_mesh, part_material
from .conversion import (camera_matrix_world, fan_mesh, float_image, hair_curves, image_from_array, linear_rgba,
                         quad_mesh, set_mesh_vertices, to_blender)
from .nodes import NodeBuilder, ensure_principled, shader_material
from .stage import hdri_dir

HDRIS = ("studio.exr", "interior.exr", "courtyard.exr", "forest.exr", "city.exr", "sunrise.exr", "sunset.exr",
         "night.exr")
SCENE_NAME = "Headforge synth"
#: pixels of a set version 6 eye texture (an eye is a few pixels across in a 224 px render)
EYE_TEXTURE_SIZE = 256
#: what covers the head in set version 2 (core.synth.COVER_MASKS), and each one's flat colour in the
#: coverage pass
COVER_GROUPS = tuple(S.COVER_MASKS)  # hair, brows, beard, glasses; hat, headband, earrings, occluder (v4); clothes (v5)
COVER_COLOURS = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 1.0, 0.0), (1.0, 0.0, 1.0),
                 (0.0, 1.0, 1.0), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (0.5, 0.5, 0.5))  # linear emission
#: set version 4's accessories, each one object with a Principled material of its own
ACCESSORIES = ("hat", "headband", "earrings", "occluder")


def _gray_image(name: str, m: np.ndarray) -> "bpy.types.Image":
    rgb = np.repeat(np.clip(m * 255, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    return image_from_array(name, rgb, "Non-Color")


class SynthScene:
    """Build once, then :meth:`render` one sample after another."""

    def __init__(self, model: FaceModel, cfg: S.SynthConfig):
        self.model, self.cfg = model, cfg
        self._spent_images = []  #: images earlier samples painted with (:meth:`_new_image`)
        self.masks = S.mask_images(model)  #: the skin atlas's lips, brows, beard and scalp areas
        old = bpy.data.scenes.get(SCENE_NAME)
        if old is not None:
            bpy.data.scenes.remove(old)
        sc = self.scene = bpy.data.scenes.new(SCENE_NAME)
        sc.render.engine = "CYCLES"
        sc.cycles.device = "CPU"
        sc.cycles.samples = cfg.samples
        sc.cycles.use_adaptive_sampling = True
        sc.cycles.use_denoising = True
        sc.cycles.denoising_quality = "FAST"   # OpenImageDenoise's fast mode: -0.4 s a frame at 224^2
        sc.cycles.denoising_prefilter = "FAST"
        sc.cycles.max_bounces = 4
        sc.cycles.caustics_reflective = sc.cycles.caustics_refractive = False
        sc.render.use_persistent_data = True
        threads = int(os.environ.get("HEADFORGE_RENDER_THREADS", "0") or 0)
        if threads > 0:  # several workers on one machine share its cores
            sc.render.threads_mode = "FIXED"
            sc.render.threads = threads
        sc.render.resolution_x = sc.render.resolution_y = cfg.size
        sc.render.resolution_percentage = 100
        sc.render.film_transparent = False
        sc.view_settings.view_transform = "AgX"
        sc.display_settings.display_device = "sRGB"
        fmt = sc.render.image_settings
        fmt.file_format = "JPEG" if cfg.image_format == "jpg" else "PNG"
        fmt.color_mode = "RGB"
        if cfg.image_format == "jpg":
            fmt.quality = 92
        else:
            fmt.color_depth = "8"
        self._build_world()
        # Everything but the world hangs under one empty: turning it turns the HDRI relative to the set,
        # without touching the world (any world change costs Cycles ~0.8 s per frame).
        self.root = bpy.data.objects.new("Synth root", None)
        self.scene.collection.objects.link(self.root)
        self._build_head()
        self._build_camera()
        self._build_lights()
        self._build_backdrop()
        for o in (self.head, self.camera, self.backdrop, *self.area_lights):
            o.parent = self.root
        self._hdri_index = None
        self.cover = {}          #: this sample's hair, brows, beard and glasses frame objects (set version 2)
        self.lens = None         #: this sample's lenses
        self.coverage = None     #: {name: (H, W) bool}: the pixels each of them covers in front of the head
        self.cover_materials = self._cover_materials() if cfg.version >= 2 else {}

    # -- construction ------------------------------------------------------------------------------
    def _link(self, obj):
        self.scene.collection.objects.link(obj)
        return obj

    def _build_world(self):
        w = self.world = bpy.data.worlds.new(SCENE_NAME)
        self.scene.world = w
        if w.node_tree is None:
            w.use_nodes = True
        nt = w.node_tree
        bg = next(n for n in nt.nodes if n.type == "BACKGROUND")
        env = nt.nodes.new("ShaderNodeTexEnvironment")
        mapping = nt.nodes.new("ShaderNodeMapping")
        coord = nt.nodes.new("ShaderNodeTexCoord")
        nt.links.new(coord.outputs["Generated"], mapping.inputs["Vector"])
        nt.links.new(mapping.outputs["Vector"], env.inputs["Vector"])
        nt.links.new(env.outputs["Color"], bg.inputs["Color"])
        self.env, self.env_mapping, self.bg = env, mapping, bg
        self.hdris = [bpy.data.images.load(str(hdri_dir() / h), check_existing=True) for h in HDRIS]

    def _build_head(self):
        m = self.model
        me = build_mesh("Synth head", m, m.neutral)
        self.head = self._link(bpy.data.objects.new("Synth head", me))
        self.skin = self._skin_material()
        self.part_mats = {}
        for part in m.parts[1]:
            if part in ("M_Face", "M_BackHead"):
                me.materials.append(self.skin)
            else:
                mat = part_material(f"Synth {part[2:]}", part)
                self.part_mats[part] = mat
                me.materials.append(mat)
        self.eye_textures = self._eye_textures(me) if self.cfg.version >= 6 else {}
        if self.cfg.details:
            # Cycles displacement ("Displacement and Bump"): the subdivided mesh is displaced by the map and
            # what is finer than the mesh is shaded as bump, both from the same UV map.
            sub = self.head.modifiers.new("Subdivision", "SUBSURF")
            sub.levels, sub.render_levels = 1, 1
            if hasattr(self.skin, "displacement_method"):
                self.skin.displacement_method = "BOTH"
            else:
                self.skin.cycles.displacement_method = "BOTH"
            nt = self.skin.node_tree
            uvn = next(n for n in nt.nodes if n.type == "UVMAP")
            self.detail_node = nt.nodes.new("ShaderNodeTexImage")
            self.detail_node.interpolation = "Cubic"
            self.detail_node.extension = "EXTEND"
            nt.links.new(uvn.outputs["UV"], self.detail_node.inputs["Vector"])
            self.disp_node = nt.nodes.new("ShaderNodeDisplacement")
            nt.links.new(self.detail_node.outputs["Color"], self.disp_node.inputs["Height"])
            output = next(n for n in nt.nodes if n.type == "OUTPUT_MATERIAL")
            nt.links.new(self.disp_node.outputs["Displacement"], output.inputs["Displacement"])

    def _skin_material(self):
        """The procedural skin: colour layers over a base tone, pores as bump, subsurface scattering. The nodes
        that :meth:`_set_skin` changes per sample are kept on ``self``."""
        mat = bpy.data.materials.new("Synth skin")
        if mat.node_tree is None:
            mat.use_nodes = True
        bsdf = self.bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
        nb = NodeBuilder(mat.node_tree)
        self.skin_colour = self._skin_colour(nb, self.masks)
        nb.link(self.skin_colour.outputs["Result"], bsdf.inputs["Base Color"])
        self.n_pore = nb.noise(400.0, 1.0)
        bump = self.bump = nb.nt.nodes.new("ShaderNodeBump")
        bump.inputs["Distance"].default_value = 0.0005
        nb.link(self.n_pore.outputs["Fac"], bump.inputs["Height"])
        nb.link(bump.outputs["Normal"], bsdf.inputs["Normal"])
        bsdf.inputs["Subsurface Radius"].default_value = (1.0, 0.35, 0.2)
        bsdf.inputs["Subsurface Scale"].default_value = 0.004
        bsdf.subsurface_method = "BURLEY"  # random walk costs 8 % more a frame for no visible difference
        return mat

    def _skin_colour(self, nb: NodeBuilder, masks: dict) -> "bpy.types.ShaderNodeMix":
        """Base tone with redness blotches, then lips, brow strands, stubble and freckles mixed over it (UV
        masks at the person's landmarks; amounts 0 until :meth:`_set_skin`), and the scalp under hair
        (:meth:`_set_hair`)."""

        def mask(name):
            return nb.image(_gray_image(f"Synth {name} mask", masks[name])).outputs["Color"]

        self.n_blotch, self.n_stub, self.n_freck = nb.noise(6.0, 3.0), nb.noise(900.0, 0.0), nb.noise(160.0, 0.0)
        self.redness = nb.math("MULTIPLY", self.n_blotch.outputs["Fac"], 0.1)
        self.tone_node = nb.mix(self.redness.outputs[0], (0.8, 0.6, 0.5, 1), (0.8, 0.5, 0.45, 1))  # B: redder
        self.lips_node = nb.mix(mask("lips"), self.tone_node.outputs["Result"], (0.5, 0.2, 0.2, 1))
        brow_strands = nb.math("GREATER_THAN", self.n_stub.outputs["Fac"], 0.45)
        brow_fac = nb.math("MULTIPLY", mask("brows"), brow_strands.outputs[0])
        self.brow_amount = nb.math("MULTIPLY", brow_fac.outputs[0], 1.0)
        self.brows_node = nb.mix(self.brow_amount.outputs[0], self.lips_node.outputs["Result"], (0.05, 0.03, 0.02, 1))
        stub_dots = nb.math("GREATER_THAN", self.n_stub.outputs["Fac"], 0.55)
        stub_fac = nb.math("MULTIPLY", mask("beard"), stub_dots.outputs[0])
        self.stubble_amount = nb.math("MULTIPLY", stub_fac.outputs[0], 0.0)
        stub = nb.mix(self.stubble_amount.outputs[0], self.brows_node.outputs["Result"], (0.04, 0.03, 0.025, 1))
        freck_spots = nb.math("GREATER_THAN", self.n_freck.outputs["Fac"], 0.62)
        self.freckle_amount = nb.math("MULTIPLY", freck_spots.outputs[0], 0.0)
        self.freck_node = nb.mix(self.freckle_amount.outputs[0], stub.outputs["Result"], (0.35, 0.18, 0.1, 1))
        layers = self._skin_layers(nb, mask, self.freck_node.outputs["Result"])
        # the scalp under hair takes the hair's colour (no pale skin between strands); 0 without hair
        self.scalp_amount = nb.math("MULTIPLY", mask("scalp"), 0.0)
        self.scalp_node = nb.mix(self.scalp_amount.outputs[0], layers, (0.1, 0.07, 0.05, 1))
        return self.scalp_node

    def _skin_layers(self, nb: NodeBuilder, mask, base):
        """Set version 5's layers over ``base`` (a colour socket): moles and blemishes (round spots in a few of
        the cells of a Voronoi pattern over the skin atlas), lipstick, eye shadow and eyeliner (UV masks). Each
        is a mix whose amount :meth:`_set_skin` sets (0: none, as in versions 1-4); ``self.layer_mixes`` maps
        the names of ``core.synth.NO_SKIN_LAYERS`` to ``(amount node, mix node)``. Returns the last mix's
        colour."""
        self.spot_cells = []

        def spot_mask(scale: float, radius: float, keep: float):
            """Round spots ``radius`` (of a cell) wide in the cells (``scale`` per UV unit) whose random value
            is over ``keep``."""
            v = nb.nt.nodes.new("ShaderNodeTexVoronoi")
            v.voronoi_dimensions = "4D"
            v.inputs["Scale"].default_value = scale
            nb.link(nb.uv.outputs["UV"], v.inputs["Vector"])
            self.spot_cells.append(v)
            inside = nb.math("LESS_THAN", v.outputs["Distance"], radius)
            chosen = nb.math("GREATER_THAN", v.outputs["Color"], keep)
            return nb.math("MULTIPLY", inside.outputs[0], chosen.outputs[0]).outputs[0]

        where = {"moles": spot_mask(40.0, 0.18, 0.75), "blemishes": spot_mask(25.0, 0.25, 0.75),
                 "lipstick": mask("lips"), "eyeshadow": mask("eyelids"), "eyeliner": mask("eyeliner")}
        self.layer_mixes = {}
        for name, area in where.items():
            amount = nb.math("MULTIPLY", area, 0.0)
            mix = nb.mix(amount.outputs[0], base, (0.0, 0.0, 0.0, 1.0))
            self.layer_mixes[name] = (amount, mix)
            base = mix.outputs["Result"]
        return base

    def _build_camera(self):
        self.cam_data = bpy.data.cameras.new("Synth camera")
        self.cam_data.sensor_fit = "AUTO"
        self.cam_data.sensor_width = 36.0
        self.cam_data.clip_start = 0.01
        self.cam_data.clip_end = 100.0
        self.camera = self._link(bpy.data.objects.new("Synth camera", self.cam_data))
        self.scene.camera = self.camera

    def _build_lights(self):
        self.area_lights = []
        for k in range(3):
            ld = bpy.data.lights.new(f"Synth area {k}", "AREA")
            ld.shape = "DISK"
            self.area_lights.append(self._link(bpy.data.objects.new(f"Synth area {k}", ld)))

    def _build_backdrop(self):
        me = bpy.data.meshes.new("Synth backdrop")
        me.from_pydata([(-1, 0, -1), (1, 0, -1), (1, 0, 1), (-1, 0, 1)], [], [(0, 1, 2, 3)])
        uv = me.uv_layers.new(name="UVMap")
        uv.data.foreach_set("uv", [0, 0, 1, 0, 1, 1, 0, 1])
        self.backdrop = self._link(bpy.data.objects.new("Synth backdrop", me))
        mat = bpy.data.materials.new("Synth backdrop")
        if mat.node_tree is None:
            mat.use_nodes = True
        nt = mat.node_tree
        bsdf = next(n for n in nt.nodes if n.type == "BSDF_PRINCIPLED")
        tex = nt.nodes.new("ShaderNodeTexImage")
        self.backdrop_tex = tex
        nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
        bsdf.inputs["Roughness"].default_value = 0.8
        me.materials.append(mat)

    def _eye_textures(self, me) -> dict:
        """Set version 6: each eyeball (sclera, iris and pupil) painted by one opaque texture in the sclera's UV
        map, as exports draw it, in place of the flat iris behind a clear cornea; the irises' meshes stay
        hidden behind. Returns the image nodes by part, whose images :meth:`_set_eyes` replaces."""
        nodes = {}
        for part in ("M_ScleraLeft", "M_ScleraRight"):
            mat = bpy.data.materials.new(f"Synth eye {part[8:]}")
            ensure_principled(mat)
            nt = mat.node_tree
            bsdf = next(n for n in nt.nodes if n.type == "BSDF_PRINCIPLED")
            bsdf.inputs["Roughness"].default_value = 0.08   # wet
            bsdf.inputs["Coat Weight"].default_value = 0.5  # the tear film's second highlight
            tex = nt.nodes.new("ShaderNodeTexImage")
            nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
            me.materials[me.materials.find(self.part_mats[part].name)] = mat
            self.part_mats[part] = mat
            nodes[part] = tex
        return nodes

    # -- per sample ----------------------------------------------------------------------------------
    def render(self, p: dict, verts_cm: np.ndarray, cam: Camera, path: str | Path,
               detail_uv: np.ndarray | None = None) -> None:
        """Set the scene to sample ``p`` and render it to ``path`` (with the sample's camera effects, set version
        2); :attr:`coverage` then says what hair, eyebrows, beard, glasses, accessories and clothes cover."""
        set_mesh_vertices(self.head.data, verts_cm)
        self._set_camera(cam, p.get("fstop"), verts_cm[S.LANDMARKS_68[36:48]].mean(0))
        self._set_skin(p["appearance"])
        self._set_eyes(p.get("eyes"))
        self._set_lights(p, cam)
        self._set_background(p, cam)
        if detail_uv is not None and self.cfg.details:
            lo, hi = float(detail_uv.min()), float(detail_uv.max())
            span = max(hi - lo, 1e-6)
            self._new_image(self.detail_node, float_image("Synth detail", (detail_uv - lo) / span))
            # height (value - midlevel) * scale = the map in metres along the normal
            self.disp_node.inputs["Midlevel"].default_value = (0.0 - lo) / span
            self.disp_node.inputs["Scale"].default_value = span * 0.01
        self._set_cover(p, verts_cm)
        self.scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True, scene=self.scene.name)
        self.coverage = self._coverage(Path(path)) if self.cover else None
        if p.get("camera_effects") is not None:
            self._camera_effects(Path(path), p["camera_effects"])

    # -- hair and glasses (set version 2) ------------------------------------------------------------
    def _cover_materials(self) -> dict:
        """The materials of what covers the head: one Principled Hair BSDF (melanin parametrisation) per strand
        group, a frame and a lens material for glasses (:meth:`_set_hair`, :meth:`_set_glasses` set their
        colours); and for the coverage pass one flat colour per group."""
        self.scene.cycles_curves.shape = "RIBBONS"  # camera-facing strips: 15 % faster than round strands
        mats, self.hair_bsdfs = {}, {}
        for name in HAIR_GROUPS:
            mats[name], self.hair_bsdfs[name] = shader_material(f"Synth {name}", "ShaderNodeBsdfHairPrincipled")
            self.hair_bsdfs[name].parametrization = "MELANIN"
        mats["glasses"], self.frame_bsdf = shader_material("Synth glasses frame", "ShaderNodeBsdfPrincipled")
        self.accessory_bsdfs = {}
        for name in ACCESSORIES:
            mats[name], self.accessory_bsdfs[name] = shader_material(f"Synth {name}", "ShaderNodeBsdfPrincipled")
        mats["clothes"] = self._cloth_material()
        self.lens_material, self.lens_bsdf = shader_material("Synth glasses lens", "ShaderNodeBsdfPrincipled")
        self.lens_bsdf.inputs["Roughness"].default_value = 0.03
        self.coverage_colours = {}
        for name, colour in zip(COVER_GROUPS, COVER_COLOURS):
            self.coverage_colours[name], em = shader_material(f"Synth {name} coverage", "ShaderNodeEmission")
            em.inputs["Color"].default_value = (*colour, 1.0)
        return mats

    def _cloth_material(self) -> "bpy.types.Material":
        """Fabric: a rough Principled BSDF with sheen, in one colour or horizontal stripes of two (the stripes'
        width in :attr:`cloth_stripe`'s Multiply node; :meth:`_set_clothes` sets them)."""
        mat, bsdf = shader_material("Synth clothes", "ShaderNodeBsdfPrincipled")
        nb = NodeBuilder(mat.node_tree)
        coords = mat.node_tree.nodes.new("ShaderNodeTexCoord")
        xyz = mat.node_tree.nodes.new("ShaderNodeSeparateXYZ")
        nb.link(coords.outputs["Object"], xyz.inputs["Vector"])
        self.cloth_stripe = nb.math("MULTIPLY", xyz.outputs["Z"], 1.0)
        band = nb.math("GREATER_THAN", nb.math("SINE", self.cloth_stripe.outputs[0]).outputs[0], 0.0)
        self.cloth_mix = nb.mix(band.outputs[0], (0.5, 0.5, 0.5, 1.0), (0.5, 0.5, 0.5, 1.0))
        nb.link(self.cloth_mix.outputs["Result"], bsdf.inputs["Base Color"])
        bsdf.inputs["Sheen Weight"].default_value = 0.5
        self.cloth_bsdf = bsdf
        return mat

    def _set_cover(self, p: dict, verts_cm: np.ndarray) -> None:
        """What covers this sample's head, the previous sample's removed: hair, eyebrows and beard, glasses (set
        version 2), accessories (4) and clothes (5); hair is tucked under a hat or a band and hangs over clothes."""
        self._clear_cover()
        acc = p.get("accessories") or {}
        shells = {"hat": acc.get("hat") and hat_shell(self.model, verts_cm, acc["hat"]),
                  "headband": acc.get("headband") and headband_shell(self.model, verts_cm, acc["headband"])}
        cloth = p.get("clothes") and garment(verts_cm, p["clothes"])
        self._set_hair(p.get("hair"), verts_cm, [s for s in shells.values() if s], cloth)
        self._set_glasses(p.get("glasses"), verts_cm)
        self._set_accessories(acc, shells, verts_cm)
        self._set_clothes(p.get("clothes"), cloth)

    def _clear_cover(self) -> None:
        """Remove the previous sample's hair, eyebrows, beard, glasses, accessories and clothes."""
        for obj in [*self.cover.values(), *([self.lens] if self.lens is not None else [])]:
            data = obj.data
            bpy.data.objects.remove(obj)
            (bpy.data.hair_curves if isinstance(data, bpy.types.Curves) else bpy.data.meshes).remove(data)
        self.cover, self.lens = {}, None

    def _add_cover(self, name: str, data) -> None:
        obj = self._link(bpy.data.objects.new(f"Synth {name}", data))
        obj.parent = self.root
        obj.data.materials.append(self.cover_materials[name])
        self.cover[name] = obj

    def _set_hair(self, hair: dict | None, verts_cm: np.ndarray, shells=(), cloth=None) -> None:
        """This sample's hair, eyebrows and beard on this head; the scalp under them takes the hair's colour.
        Scalp hair under a hat or a headband (``shells``, ``core.accessories.Shell``) is tucked in under it;
        scalp hair and beards hang over the clothes (``cloth``, ``core.clothes.Garment``), not through them."""
        self.scalp_amount.inputs[1].default_value = 0.0
        if hair is None or not self.cover_materials:
            return
        self.scalp_amount.inputs[1].default_value = SCALP_COVER[hair["style"]]
        self.scalp_node.inputs["B"].default_value = linear_rgba(hair_srgb(hair["melanin"], hair["redness"]))
        strands = hair_strands(self.model, verts_cm, hair)
        for shell in shells:
            strands = shell.tuck(strands)
        groups = {"hair": (strands, strand_radii(strands.shape[1]))}
        brows_scale = hair["brows"].get("radius_scale", 1.0)   # set version 3's brows: wider strands
        for name, strands in facial_hair_strands(self.model, verts_cm, hair, self.masks).items():
            groups[name] = (strands, facial_strand_radii(brows_scale if name == "brows" else 1.0))
        for name, (strands, radii) in groups.items():
            if cloth and name in ("hair", "beard") and len(strands):
                strands = cloth.drape(strands)
            if len(strands):
                self._add_cover(name, hair_curves(f"Synth {name}", strands, radii))
        colours = {"hair": (hair["melanin"], hair["redness"]), "beard": (hair["melanin"], hair["redness"]),
                   "brows": (hair["brows"]["melanin"], hair["redness"])}
        for name, bsdf in self.hair_bsdfs.items():
            b = bsdf.inputs
            b["Melanin"].default_value, b["Melanin Redness"].default_value = colours[name]
            b["Tint"].default_value = linear_rgba(hair["tint_srgb"] if name == "hair" else (1.0, 1.0, 1.0))
            b["Roughness"].default_value = hair["roughness"]

    def _set_glasses(self, glasses: dict | None, verts_cm: np.ndarray) -> None:
        """This sample's glasses on this head: the frame as curves, the lenses as discs."""
        if glasses is None or not self.cover_materials:
            return
        g = glasses_geometry(verts_cm, glasses)
        self._add_cover("glasses", hair_curves("Synth glasses", [*g["rims"], g["bridge"], *g["arms"]],
                                               glasses["rim_radius_cm"]))
        self.lens = self._link(bpy.data.objects.new("Synth lenses", fan_mesh("Synth lenses", g["rims"][:, :-1])))
        self.lens.parent = self.root
        self.lens.data.materials.append(self.lens_material)
        f = self.frame_bsdf.inputs
        f["Base Color"].default_value = linear_rgba(glasses["frame_srgb"])
        f["Metallic"].default_value = 1.0 if glasses["metal"] else 0.0
        f["Roughness"].default_value = 0.25 if glasses["metal"] else 0.35
        lens = self.lens_bsdf.inputs
        lens["Base Color"].default_value = linear_rgba(glasses["lens_tint_srgb"])
        lens["Alpha"].default_value = glasses["lens_opacity"]

    def _set_accessories(self, acc: dict, shells: dict, verts_cm: np.ndarray) -> None:
        """Set version 4's hat (a cap with its brim), headband, earrings and hand, phone or microphone."""
        meshes = {}
        if acc.get("hat"):
            parts = [shells["hat"].mesh()]
            if acc["hat"]["brim_cm"] > 0:
                parts.append(brim(shells["hat"], acc["hat"]["brim_cm"]))
            meshes["hat"] = joined(parts)
        if acc.get("headband"):
            meshes["headband"] = shells["headband"].mesh()
        if acc.get("occluder"):
            meshes["occluder"] = occluder_mesh(verts_cm, acc["occluder"])
        for name, (verts, quads) in meshes.items():
            self._add_cover(name, quad_mesh(f"Synth {name}", verts, quads))
        if acc.get("earrings"):
            e = acc["earrings"]
            self._add_cover("earrings", hair_curves("Synth earrings", earring_curves(verts_cm, e), e["wire_cm"]))
        for name in self.cover.keys() & set(ACCESSORIES):
            b = self.accessory_bsdfs[name].inputs
            b["Base Color"].default_value = linear_rgba(acc[name]["srgb"])
            metal = name == "earrings" or (name == "occluder" and acc[name]["kind"] == "microphone")
            b["Metallic"].default_value = 1.0 if metal else 0.0
            b["Roughness"].default_value = 0.2 if name == "earrings" else acc[name]["roughness"]
            hand = name == "occluder" and acc[name]["kind"] == "hand"
            b["Subsurface Weight"].default_value = 0.15 if hand else 0.0

    def _set_clothes(self, clothes: dict | None, cloth) -> None:
        """Set version 5's garment (``cloth``, ``core.clothes.Garment``) in its colours."""
        if not clothes:
            return
        self._add_cover("clothes", quad_mesh("Synth clothes", *cloth.mesh()))
        colour = linear_rgba(clothes["srgb"])
        self.cloth_mix.inputs["A"].default_value = colour
        self.cloth_mix.inputs["B"].default_value = linear_rgba(clothes["stripe_srgb"] or clothes["srgb"])
        self.cloth_stripe.inputs[1].default_value = math.pi / (clothes["stripe_cm"] * 0.01)  # metres
        self.cloth_bsdf.inputs["Roughness"].default_value = clothes["roughness"]

    @staticmethod
    def _camera_effects(path: Path, fx: dict) -> None:
        """Rewrite the rendered image at ``path`` as the sample's camera would have delivered it
        (``core.synth.apply_camera_effects``)."""
        import cv2

        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # BGR, or BGRA with a transparent film
        img[:, :, :3] = S.apply_camera_effects(np.ascontiguousarray(img[:, :, 2::-1]), fx)[:, :, ::-1]
        params = [cv2.IMWRITE_JPEG_QUALITY, 92] if path.suffix == ".jpg" else []
        if not cv2.imwrite(str(path), img, params):
            raise OSError(f"Cannot write {str(path)!r}.")

    def _coverage(self, path: Path) -> dict[str, np.ndarray]:
        """Which pixels each of hair, eyebrows, beard and glasses' frames covers in front of the head, as this
        camera draws them: a quick second render (4 samples, transparent film, the head a holdout, the
        backdrop and lenses hidden, each group in a flat colour of its own) whose alpha is the coverage and
        whose colour the group. ``{name: (H, W) bool}`` for the groups present."""
        import cv2

        sc, fmt = self.scene, self.scene.render.image_settings
        saved = (sc.cycles.samples, sc.cycles.use_denoising, sc.render.film_transparent, fmt.file_format,
                 fmt.color_mode, sc.render.filepath, sc.view_settings.view_transform)
        cover = path.with_name(f".{path.stem}.cover.png")
        sc.cycles.samples, sc.cycles.use_denoising, sc.render.film_transparent = 4, False, True
        fmt.file_format, fmt.color_mode, sc.render.filepath = "PNG", "RGBA", str(cover)
        sc.view_settings.view_transform = "Standard"
        hidden = [self.backdrop, *([self.lens] if self.lens is not None else [])]
        self.head.is_holdout = True
        for obj in hidden:
            obj.hide_render = True
        for name, obj in self.cover.items():
            obj.data.materials[0] = self.coverage_colours[name]
        try:
            bpy.ops.render.render(write_still=True, scene=sc.name)
            bgra = cv2.imread(str(cover), cv2.IMREAD_UNCHANGED)
        finally:
            self.head.is_holdout = False
            for obj in hidden:
                obj.hide_render = False
            for name, obj in self.cover.items():
                obj.data.materials[0] = self.cover_materials[name]
            (sc.cycles.samples, sc.cycles.use_denoising, sc.render.film_transparent, fmt.file_format,
             fmt.color_mode, sc.render.filepath, sc.view_settings.view_transform) = saved
            cover.unlink(missing_ok=True)
        covered = bgra[:, :, 3] >= 128
        rgb = bgra[:, :, 2::-1].astype(np.float32) / 255
        srgb = [linear_to_srgb(np.asarray(c)) for c in COVER_COLOURS]   # as the Standard view writes them
        nearest = np.argmin([np.abs(rgb - c).sum(2) for c in srgb], axis=0)
        return {name: covered & (nearest == k) for k, name in enumerate(COVER_GROUPS) if name in self.cover}

    def render_albedo(self, path: Path) -> None:
        """The skin's own colour, without light, as the last sample's camera saw it, to ``path`` (PNG, RGBA,
        sRGB; alpha: the skin, 0 on eyes, teeth, hair, glasses, hands, clothes and background): a quick second
        render like the coverage pass (4 samples, no denoiser, Standard view at exposure 0, no depth of field), the skin
        material's colour emitted, the rest of the head a holdout, what covers the head and the backdrop
        hidden. The ground truth for taking a photo's light off (``core.texture.fit_light``)."""
        sc, fmt, mats = self.scene, self.scene.render.image_settings, self.head.data.materials
        view = sc.view_settings
        saved = (sc.cycles.samples, sc.cycles.use_denoising, sc.render.film_transparent, fmt.file_format,
                 fmt.color_mode, sc.render.filepath, view.view_transform, view.exposure, self.cam_data.dof.use_dof)
        parts = list(mats)
        hidden = [o for o in (self.backdrop, self.lens, *self.cover.values()) if o is not None and not o.hide_render]
        nt = self.skin.node_tree
        output = next(n for n in nt.nodes if n.type == "OUTPUT_MATERIAL")
        emit = nt.nodes.new("ShaderNodeEmission")
        nt.links.new(self.skin_colour.outputs["Result"], emit.inputs["Color"])
        nt.links.new(emit.outputs["Emission"], output.inputs["Surface"])
        sc.cycles.samples, sc.cycles.use_denoising, sc.render.film_transparent = 4, False, True
        fmt.file_format, fmt.color_mode, sc.render.filepath = "PNG", "RGBA", str(path)
        view.view_transform, view.exposure, self.cam_data.dof.use_dof = "Standard", 0.0, False
        for i, m in enumerate(parts):
            if m is not self.skin:
                mats[i] = self._holdout
        for obj in hidden:
            obj.hide_render = True
        try:
            bpy.ops.render.render(write_still=True, scene=sc.name)
        finally:
            for i, m in enumerate(parts):
                mats[i] = m
            for obj in hidden:
                obj.hide_render = False
            nt.links.new(self.bsdf.outputs["BSDF"], output.inputs["Surface"])
            nt.nodes.remove(emit)
            (sc.cycles.samples, sc.cycles.use_denoising, sc.render.film_transparent, fmt.file_format, fmt.color_mode,
             sc.render.filepath, view.view_transform, view.exposure, self.cam_data.dof.use_dof) = saved

    def render_shading(self, path: Path) -> None:
        """The light that falls on the skin, as the last sample's camera saw it, to ``path`` (OpenEXR, RGB half
        float, scene-linear): the same scene and samples with the skin's colour white, without depth of field
        (so it lines up with :meth:`render_albedo`). Before the view transform, exposure and camera effects, the
        render's skin is about albedo x shading (its shine apart). The ground truth for the light that
        ``core.texture.fit_light`` and ``core.relief`` estimate."""
        sc, fmt = self.scene, self.scene.render.image_settings
        saved = (fmt.file_format, fmt.color_mode, fmt.color_depth, sc.render.filepath, self.cam_data.dof.use_dof)
        nt = self.skin.node_tree
        base = self.bsdf.inputs["Base Color"]
        unlinked = tuple(base.default_value)
        nt.links.remove(base.links[0])
        base.default_value = (1.0, 1.0, 1.0, 1.0)
        fmt.file_format = "OPEN_EXR"
        fmt.color_mode, fmt.color_depth, sc.render.filepath = "RGB", "16", str(path)
        self.cam_data.dof.use_dof = False
        try:
            bpy.ops.render.render(write_still=True, scene=sc.name)
        finally:
            base.default_value = unlinked
            nt.links.new(self.skin_colour.outputs["Result"], base)
            fmt.file_format = saved[0]
            fmt.color_mode, fmt.color_depth, sc.render.filepath, self.cam_data.dof.use_dof = saved[1:]

    @property
    def _holdout(self) -> "bpy.types.Material":
        """A material that cuts its pixels out of the film (alpha 0)."""
        mat = bpy.data.materials.get("Synth holdout")
        if mat is None:
            mat = shader_material("Synth holdout", "ShaderNodeHoldout")[0]
        return mat

    def _set_camera(self, cam: Camera, fstop: float | None = None, focus_cm: np.ndarray | None = None):
        """The sample's camera; with ``fstop`` (set version 5) its depth of field, focused at ``focus_cm`` (the
        eyes, model cm)."""
        side = max(cam.width, cam.height)
        self.cam_data.lens = cam.fx * self.cam_data.sensor_width / side
        self.camera.matrix_basis = camera_matrix_world(cam)
        dof = self.cam_data.dof
        dof.use_dof = fstop is not None
        if fstop is not None:
            dof.focus_distance = float(np.linalg.norm(cam.to_camera(focus_cm[None])[0])) * 0.01
            dof.aperture_fstop = fstop

    def _set_skin(self, a: dict):
        tone = linear_rgba(a["skin_srgb"])[:3]
        red = [tone[0] * 1.02, tone[1] * 0.78, tone[2] * 0.78]
        self.tone_node.inputs["A"].default_value = (*tone, 1)
        self.tone_node.inputs["B"].default_value = (*red, 1)
        self.redness.inputs[1].default_value = a["redness"] * 4
        lip = [tone[0] * a["lip_darkness"] * 0.95, tone[1] * a["lip_darkness"] * 0.62, tone[2] * a["lip_darkness"] * 0.62]
        self.lips_node.inputs["B"].default_value = (*lip, 1)
        bd = a["brow_darkness"]
        self.brows_node.inputs["B"].default_value = (tone[0] * bd, tone[1] * bd * 0.85, tone[2] * bd * 0.7, 1)
        self.stubble_amount.inputs[1].default_value = a["stubble"]
        self.freckle_amount.inputs[1].default_value = a["freckles"]
        w = (a["noise_seed"] % 1000) / 10.0
        for n in (self.n_blotch, self.n_stub, self.n_freck, self.n_pore, *self.spot_cells):
            n.inputs["W"].default_value = w
        layers = {**S.NO_SKIN_LAYERS, **a}
        colours = {"moles": [c * 0.35 for c in tone], "blemishes": [tone[0] * 0.95, tone[1] * 0.55, tone[2] * 0.55],
                   "lipstick": linear_rgba(layers["lipstick_srgb"])[:3],
                   "eyeshadow": linear_rgba(layers["eyeshadow_srgb"])[:3], "eyeliner": (0.01, 0.008, 0.008)}
        for name, (amount, mix) in self.layer_mixes.items():
            amount.inputs[1].default_value = layers[name]
            mix.inputs["B"].default_value = (*colours[name], 1.0)
        self.bump.inputs["Strength"].default_value = 0.15 + 0.35 * a["pores"]
        self.bsdf.inputs["Roughness"].default_value = a["roughness"]
        self.bsdf.inputs["Specular IOR Level"].default_value = a["specular"]
        self.bsdf.inputs["Subsurface Weight"].default_value = a["subsurface"]
        for part in ("M_IrisLeft", "M_IrisRight"):
            b = next(n for n in self.part_mats[part].node_tree.nodes if n.type == "BSDF_PRINCIPLED")
            b.inputs["Base Color"].default_value = linear_rgba(a["iris_srgb"])

    def _new_image(self, node, image) -> None:
        """Give the image node ``node`` a new ``image``. Cycles' persistent data does not see edited
        pixels of an existing image, and it knows images by their address: a new image at the address of one
        removed earlier rendered with the removed one's pixels (an earlier person's iris, seen in set version
        6). So the images a sample leaves behind stay until the scene is dropped (a shard's end: the worker reads
        a new empty file for each shard), and no new one can take their address."""
        if node.image is not None:
            self._spent_images.append(node.image)
        node.image = image

    def _set_eyes(self, eyes: dict | None) -> None:
        """Paint set version 6's eyes (:func:`core.synth.sample_eyes`): each a texture of its own (veins and
        fibres differ between the eyes)."""
        for k, (part, tex) in enumerate(self.eye_textures.items()):
            self._new_image(tex, image_from_array(f"Synth eye {part[8:]}", eye_texture(
                EYE_TEXTURE_SIZE, eyes["iris_srgb"], eyes["seed"] + k, eyes["pupil_uv_radius"], eyes["veins"],
                eyes["sclera_srgb"])))

    def _set_lights(self, p: dict, cam: Camera):
        L = p["lights"]
        if self._hdri_index != L["hdri"]:  # the only world change: render samples grouped by HDRI
            self.env.image = self.hdris[L["hdri"] % len(self.hdris)]
            self._hdri_index = L["hdri"]
        # HDRI rotation: turn the whole set the other way; strength: film exposure (area lights compensated)
        self.root.rotation_euler = (0.0, 0.0, -L["hdri_rotation"])
        strength = L["hdri_strength"]
        self.scene.view_settings.exposure = math.log2(strength)
        # area lights around the head, relative to the camera's view direction (set space)
        head_c = Vector(to_blender(np.array([[0.0, 1.5, 3.0]]))[0])
        cam_dir = (Vector(self.camera.matrix_basis.translation) - head_c).normalized()
        n_on = (0, 1, 2, 2)[L["area_rig"]]
        for k, obj in enumerate(self.area_lights):
            on = k < n_on or (L["area_rig"] == 3 and k < 2)
            obj.hide_render = not on
            if not on:
                continue
            a = L["area"][k]
            az = math.radians(a["azimuth"] + (150 if (L["area_rig"] == 2 and k == 1) else 0))
            el = math.radians(a["elevation"])
            rot = Matrix.Rotation(az, 3, "Z") @ Matrix.Rotation(el, 3, Vector((-cam_dir.y, cam_dir.x, 0)).normalized()
                                                              if cam_dir.xy.length > 1e-6 else Vector((1, 0, 0)))
            pos = head_c + rot @ cam_dir * a["distance"]
            obj.location = pos
            obj.rotation_euler = (head_c - pos).to_track_quat("-Z", "Y").to_euler()
            obj.data.size = a["size"]
            power = a["power"] * (0.4 if (L["area_rig"] == 3 and k == 1) else 1.0)
            obj.data.energy = power / strength
            wm = a["warmth"]
            obj.data.color = (1 + wm, 1.0, 1 - wm)

    def _set_background(self, p: dict, cam: Camera):
        kind = p["background"]["kind"]
        self.backdrop.hide_render = kind == "hdri"
        if kind == "hdri":
            return
        backdrop = S.background_image(kind, p["background"]["seed"], 256)
        self._new_image(self.backdrop_tex, image_from_array("Synth backdrop", backdrop))
        # a plane behind the head, facing the camera, filling the view (set space)
        cm = self.camera.matrix_basis
        fwd = -(cm.to_3x3() @ Vector((0, 0, 1)))
        dist = float(np.linalg.norm(cam.translation)) * 0.01 + 0.6
        half = dist * (18.0 / self.cam_data.lens) * 1.3
        self.backdrop.matrix_basis = Matrix.Translation(cm.translation + fwd * dist) @ \
            (cm.to_3x3() @ Matrix.Rotation(math.radians(90), 3, "X")).to_4x4() @ Matrix.Scale(half, 4)
