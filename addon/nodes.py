"""Helpers for shader node trees in code: new materials with one shader (:func:`shader_material`), and
:class:`NodeBuilder`, where each call adds one node, links what is a socket and sets what is a value, and
returns the node."""

from __future__ import annotations

import bpy


def ensure_principled(mat) -> None:
    """Give material ``mat`` its default node tree with a Principled BSDF. Blender 5 gives new materials one;
    older versions need ``use_nodes`` (deprecated in 5)."""
    if mat.node_tree is None or not any(n.type == "BSDF_PRINCIPLED" for n in mat.node_tree.nodes):
        mat.use_nodes = True


def shader_material(name: str, node_type: str):
    """A new material whose surface is one new node of ``node_type``: ``(material, node)``."""
    mat = bpy.data.materials.new(name)
    ensure_principled(mat)
    nt = mat.node_tree
    for n in [n for n in nt.nodes if n.type == "BSDF_PRINCIPLED"]:
        nt.nodes.remove(n)
    node = nt.nodes.new(node_type)
    nt.links.new(node.outputs[0], next(n for n in nt.nodes if n.type == "OUTPUT_MATERIAL").inputs["Surface"])
    return mat, node


class NodeBuilder:
    """Adds nodes to the node tree ``nt``; texture coordinates come from the UV map ``uv_map``."""

    def __init__(self, nt, uv_map: str = "UVMap"):
        self.nt = nt
        self.uv = nt.nodes.new("ShaderNodeUVMap")
        self.uv.uv_map = uv_map

    def _set(self, socket, value) -> None:
        """Link ``value`` into ``socket`` when it is a socket, else set it as the socket's value."""
        if hasattr(value, "links") and hasattr(value, "node"):  # an output socket
            self.nt.links.new(value, socket)
        else:
            socket.default_value = value

    def link(self, output, socket) -> None:
        self.nt.links.new(output, socket)

    def image(self, image) -> "bpy.types.ShaderNodeTexImage":
        """An image texture at the UV map's coordinates."""
        n = self.nt.nodes.new("ShaderNodeTexImage")
        n.image = image
        self.link(self.uv.outputs["UV"], n.inputs["Vector"])
        return n

    def noise(self, scale: float, detail: float = 2.0) -> "bpy.types.ShaderNodeTexNoise":
        """4D noise over the UV map (its W input varies it per sample)."""
        n = self.nt.nodes.new("ShaderNodeTexNoise")
        n.noise_dimensions = "4D"
        n.inputs["Scale"].default_value = scale
        n.inputs["Detail"].default_value = detail
        self.link(self.uv.outputs["UV"], n.inputs["Vector"])
        return n

    def mix(self, factor, a, b) -> "bpy.types.ShaderNodeMix":
        """RGBA mix of ``a`` and ``b`` by ``factor`` (each a socket or a value)."""
        n = self.nt.nodes.new("ShaderNodeMix")
        n.data_type = "RGBA"
        for name, value in (("Factor", factor), ("A", a), ("B", b)):
            self._set(n.inputs[name], value)
        return n

    def math(self, operation: str, a, b=None) -> "bpy.types.ShaderNodeMath":
        """A Math node (``"MULTIPLY"``, ``"LESS_THAN"`` ...) of ``a`` and ``b`` (sockets or values)."""
        return self._operation("ShaderNodeMath", operation, a, b)

    def vector_math(self, operation: str, a, b=None) -> "bpy.types.ShaderNodeVectorMath":
        """A Vector Math node (``"SUBTRACT"``, ``"LENGTH"`` ...) of ``a`` and ``b`` (sockets or values)."""
        return self._operation("ShaderNodeVectorMath", operation, a, b)

    def _operation(self, node_type: str, operation: str, a, b):
        n = self.nt.nodes.new(node_type)
        n.operation = operation
        for i, value in enumerate((a, b)):
            if value is not None:
                self._set(n.inputs[i], value)
        return n
