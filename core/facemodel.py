"""The ICT-FaceKit morphable face model (MIT, (c) 2020 USC Institute for Creative Technologies).

Units are centimetres, +Y up, the face looks along +Z, the person's right is -X (outer eye corners
8.9 cm apart). The model is read from ``FaceXModel.tar.xz`` (or the extracted ``FaceXModel/`` folder)
once and kept as a compact float32 cache in the user cache directory; later loads take a few tens of
milliseconds.

Geometry is plain arrays:

* ``vertices(identity, expression)`` -> ``(N, 3)`` float32, cm.
* polygons as loops: ``loop_vertex`` ``(L,)`` int32 vertex per loop, ``poly_start`` ``(P,)`` and
  ``poly_size`` ``(P,)`` int32; ``loop_uv`` ``(L, 2)`` float32 texture coordinates (V up, OpenGL/Blender
  convention, so image row = (1 - v) * height).
* ``uv_udim``: the upstream UDIM layout (face in tile 1001, back of head 1002, ...). ``loop_uv`` is the
  Headforge skin atlas: face and back of head packed into one square texture (see :data:`ATLAS_FACE`).
"""

from __future__ import annotations

import hashlib
import json
import lzma
import tarfile
import zlib
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from . import config
from .errors import FaceModelError
from .fileio import save_npz

N_VERTICES = 26719
N_IDENTITY = 100
N_EXPRESSION = 53
CACHE_VERSION = 3

#: Vertex ranges (0-based, inclusive) of the model's parts.
REGIONS: dict[str, tuple[int, int]] = {
    "face": (0, 9408),
    "narrow_face": (0, 6705),
    "head_neck": (9409, 11247),
    "mouth_socket": (11248, 13293),
    "eye_socket_L": (13294, 13677),
    "eye_socket_R": (13678, 14061),
    "gums_tongue": (14062, 17038),
    "teeth": (17039, 21450),
    "eyeball_L": (21451, 23020),
    "eyeball_R": (23021, 24590),
    "sclera_L": (21451, 22220),
    "iris_L": (22221, 23020),
    "sclera_R": (23021, 23790),
    "iris_R": (23791, 24590),
    "lacrimal_L": (24591, 24794),
    "lacrimal_R": (24795, 24998),
    "eye_blend_L": (24999, 25022),
    "eye_blend_R": (25023, 25046),
    "eye_occlusion_L": (25047, 25198),
    "eye_occlusion_R": (25199, 25350),
    "eyelashes_L": (25351, 26034),
    "eyelashes_R": (26035, 26718),
}

#: vertices 0..FACE_END-1 are the face skin; 0..SKIN_END-1 the whole skin (face, head and neck)
FACE_END = REGIONS["face"][1] + 1
SKIN_END = REGIONS["head_neck"][1] + 1

#: iBUG / Multi-PIE 68 landmark vertices, in landmark order.
LANDMARKS_68 = np.array(
    [1225, 1888, 1052, 367, 1719, 1722, 2199, 1447, 966, 3661, 4390, 3927, 3924, 2608, 3272, 4088, 3443,
     268, 493, 1914, 2044, 1401, 3615, 4240, 4114, 2734, 2509, 978, 4527, 4942, 4857, 1140, 2075, 1147,
     4269, 3360, 1507, 1542, 1537, 1528, 1518, 1511, 3742, 3751, 3756, 3721, 3725, 3732, 5708, 5695,
     2081, 0, 4275, 6200, 6213, 6346, 6461, 5518, 5957, 5841, 5702, 5711, 5533, 6216, 6207, 6470, 5517,
     5966], dtype=np.int32)

#: Jawline vertices along which the contour landmarks slide (person's right side, then left).
JAW_CANDIDATES_RIGHT = np.array(
    [1280, 1278, 1275, 1272, 1248, 12, 820, 1834, 1902, 243, 844, 781, 1673, 2199, 801, 1447, 800],
    dtype=np.int32)
JAW_CANDIDATES_LEFT = np.array(
    [3041, 3661, 3042, 4390, 3880, 3022, 3085, 2484, 4102, 4036, 3061, 2253, 3466, 3490, 3493, 3496, 3498],
    dtype=np.int32)

#: Skin atlas layout: the face tile (UDIM 1001) fills the top-left ATLAS_FACE x ATLAS_FACE square,
#: the back-of-head tile (UDIM 1002) the top-right (1 - ATLAS_FACE) square.
ATLAS_FACE = 0.7
SKIN_MATERIALS = ("M_Face", "M_BackHead")

_lock = threading.Lock()
_loaded: dict[str, "FaceModel"] = {}


@dataclass(eq=False)
class FaceModel:
    """The ICT-FaceKit model as arrays. Build it with :func:`load_face_model`."""

    neutral: np.ndarray            #: (N, 3) float32, cm
    basis: np.ndarray              #: (100 + 53, N * 3) float32: identity modes (1 std) then expressions
    expression_names: tuple[str, ...]
    loop_vertex: np.ndarray        #: (L,) int32
    poly_start: np.ndarray         #: (P,) int32
    poly_size: np.ndarray          #: (P,) int32
    uv_udim: np.ndarray            #: (L, 2) float32, upstream UDIM UVs
    poly_material: np.ndarray      #: (P,) int16 index into material_names
    material_names: tuple[str, ...]
    source: str = ""
    _cache: dict = field(default_factory=dict, repr=False)

    # ---- sizes ----------------------------------------------------------------------------------
    @property
    def n_vertices(self) -> int:
        return self.neutral.shape[0]

    @property
    def n_identity(self) -> int:
        return N_IDENTITY

    @property
    def n_expression(self) -> int:
        return len(self.expression_names)

    @property
    def identity_basis(self) -> np.ndarray:
        """(100, N, 3) view: identity mode k is ``identity_basis[k]`` (one standard deviation)."""
        return self.basis[:N_IDENTITY].reshape(N_IDENTITY, -1, 3)

    @property
    def expression_basis(self) -> np.ndarray:
        """(53, N, 3) view: expression blendshape deltas, ARKit names in :attr:`expression_names`."""
        return self.basis[N_IDENTITY:].reshape(self.n_expression, -1, 3)

    # ---- evaluation -----------------------------------------------------------------------------
    def coefficients(self, identity=None, expression=None) -> np.ndarray:
        """Stack identity (100) and expression (53, or a {name: weight} dict) into one (153,) vector."""
        c = np.zeros(N_IDENTITY + self.n_expression, np.float32)
        if identity is not None:
            identity = np.asarray(identity, np.float32).ravel()
            if identity.size > N_IDENTITY:
                raise ValueError(f"identity has {identity.size} coefficients; the model has {N_IDENTITY}")
            c[: identity.size] = identity
        if expression is not None:
            if isinstance(expression, dict):
                for name, w in expression.items():
                    c[N_IDENTITY + self.expression_index(name)] = w
            else:
                e = np.asarray(expression, np.float32).ravel()
                if e.size != self.n_expression:
                    raise ValueError(f"expression has {e.size} weights; the model has {self.n_expression}")
                c[N_IDENTITY:] = e
        return c

    def vertices(self, identity=None, expression=None, *, subset: np.ndarray | None = None) -> np.ndarray:
        """Evaluate the model: ``(N, 3)`` float32 vertices in cm (or ``(len(subset), 3)``).

        ``identity``: up to 100 coefficients in standard deviations; ``expression``: 53 weights in
        [0, 1] (model order) or a ``{ARKit name: weight}`` dict.
        """
        c = self.coefficients(identity, expression)
        nz = np.flatnonzero(c)
        if subset is None:
            out = self.neutral.reshape(-1).copy()
            if nz.size > 16:  # gathering many basis rows costs more than multiplying by zeros
                out += c @ self.basis
            elif nz.size:
                out += c[nz] @ self.basis[nz]
            return out.reshape(-1, 3)
        cols = (np.asarray(subset)[:, None] * 3 + np.arange(3)).ravel()
        out = self.neutral[subset].reshape(-1).copy()
        if nz.size:
            out += c[nz] @ self.basis[nz][:, cols]
        return out.reshape(-1, 3)

    def basis_rows(self, vertex_ids: np.ndarray) -> np.ndarray:
        """(K, 3, 153) slice of the basis for some vertices (for Jacobians)."""
        cols = (np.asarray(vertex_ids)[:, None] * 3 + np.arange(3)).ravel()
        return self.basis[:, cols].T.reshape(len(vertex_ids), 3, -1)

    def expression_index(self, name: str) -> int:
        try:
            return self.expression_names.index(name)
        except ValueError:
            raise KeyError(f"unknown expression {name!r}; the model has {', '.join(self.expression_names)}")

    # ---- topology ---------------------------------------------------------------------------------
    def region(self, name: str) -> np.ndarray:
        """Vertex indices of a named part (see :data:`REGIONS`)."""
        a, b = REGIONS[name]
        return np.arange(a, b + 1, dtype=np.int32)

    @property
    def landmarks68(self) -> np.ndarray:
        return LANDMARKS_68

    @cached_property
    def poly_index_of_loop(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.poly_start), dtype=np.int32), self.poly_size)

    @cached_property
    def triangles(self) -> np.ndarray:
        """(T, 3) int32 vertex triangles (polygons fanned), see :attr:`triangle_loops`."""
        return self.loop_vertex[self.triangle_loops]

    @cached_property
    def triangle_loops(self) -> np.ndarray:
        """(T, 3) int32 loop indices of a fan triangulation of every polygon."""
        tris = []
        for k in range(3, int(self.poly_size.max()) + 1):
            ps = self.poly_start[self.poly_size == k]
            for j in range(1, k - 1):
                tris.append(np.stack([ps, ps + j, ps + j + 1], 1))
        return np.concatenate(tris).astype(np.int32)

    @cached_property
    def triangle_poly(self) -> np.ndarray:
        """(T,) polygon index of each triangle."""
        return self.poly_index_of_loop[self.triangle_loops[:, 0]]

    @cached_property
    def skin_polygons(self) -> np.ndarray:
        """Boolean (P,) mask of the polygons that carry the skin texture (face and back of head)."""
        ids = [self.material_names.index(m) for m in SKIN_MATERIALS]
        return np.isin(self.poly_material, ids)

    @cached_property
    def loop_uv(self) -> np.ndarray:
        """(L, 2) float32 skin-atlas UVs (V up). Non-skin parts keep their upstream UVs modulo 1."""
        uv = self.uv_udim.astype(np.float32).copy()
        tile = np.floor(uv[:, 0])
        skin = self.skin_polygons[self.poly_index_of_loop]
        a = ATLAS_FACE
        face = skin & (tile == 0)
        back = skin & (tile == 1)
        uv[face] = uv[face] * a + np.array([0.0, 1.0 - a], np.float32)
        uv[back] = (uv[back] - np.array([1.0, 0.0], np.float32)) * (1 - a) + np.array([a, a], np.float32)
        other = ~skin
        uv[other, 0] -= tile[other]
        return uv

    @cached_property
    def parts(self) -> tuple[np.ndarray, tuple[str, ...]]:
        """Per-polygon part material ``(P,)`` int16 and part names: ICT's materials plus
        ``M_MouthSocket`` for the inside of the mouth (upstream it shares the back-of-head material)."""
        names = self.material_names + ("M_MouthSocket",)
        a, b = REGIONS["mouth_socket"]
        lo = np.minimum.reduceat(self.loop_vertex, self.poly_start)
        hi = np.maximum.reduceat(self.loop_vertex, self.poly_start)
        pm = self.poly_material.copy()
        pm[(lo >= a) & (hi <= b)] = len(names) - 1
        return pm, names

    @cached_property
    def vertex_neighbors(self):
        """Sparse (N, N) symmetric adjacency (CSR, float32 ones) from polygon edges."""
        import scipy.sparse as sp

        nxt = np.arange(len(self.loop_vertex)) + 1
        end = self.poly_start + self.poly_size
        last = end - 1
        nxt[last] = self.poly_start
        a = self.loop_vertex
        b = self.loop_vertex[nxt]
        n = self.n_vertices
        adj = sp.coo_matrix((np.ones(a.size, np.float32), (a, b)), shape=(n, n)).tocsr()
        adj = ((adj + adj.T) > 0).astype(np.float32)
        return adj

    def smooth_skin_normals(self, verts: np.ndarray, passes: int) -> np.ndarray:
        """(N, 3) unit vertex normals of ``verts``, the skin's (vertices below :data:`SKIN_END`) averaged with
        their skin neighbours' ``passes`` times (each pass spreads them by about one edge: 30 passes smooth
        the face over about 2 cm; the mouth and eye sockets behind the lips and lids stay out of it)."""
        import scipy.sparse as sp

        a = self.vertex_neighbors[:SKIN_END, :SKIN_END] + sp.identity(SKIN_END, np.float32, format="csr")
        average = sp.diags(1.0 / np.asarray(a.sum(1)).ravel()).astype(np.float32) @ a
        n = self.vertex_normals(verts)
        skin = n[:SKIN_END]
        for _ in range(passes):
            skin = average @ skin
        n[:SKIN_END] = skin / (np.linalg.norm(skin, axis=1, keepdims=True) + 1e-12)
        return n

    @cached_property
    def mirror(self) -> np.ndarray:
        """(N,) int32: the vertex at the mirrored position (x -> -x) of each vertex, in the neutral."""
        from scipy.spatial import cKDTree

        p = self.neutral.astype(np.float64)
        q = p * np.array([-1.0, 1.0, 1.0])
        _, idx = cKDTree(p).query(q)
        return idx.astype(np.int32)

    def _flat_and_mirrored(self, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(K, N, 3)`` displacement modes -> ``(K, 3N)`` float64 modes and the same modes mirrored
        left-right (x -> -x, through :attr:`mirror`)."""
        B = basis.astype(np.float64)
        mirrored = B[:, self.mirror] * np.array([-1.0, 1.0, 1.0])
        return B.reshape(len(B), -1), mirrored.reshape(len(B), -1)

    @cached_property
    def identity_mirror(self) -> np.ndarray:
        """(100, 100) float64 ``M``: the identity mirrored left-right (x -> -x) is ``M @ identity`` (least
        squares in the identity basis; ICT's identity modes are mirror-closed to 0.4 %)."""
        B, mirrored = self._flat_and_mirrored(self.identity_basis)
        return np.linalg.solve(B @ B.T, B @ mirrored.T)   # normal equations of B^T M ~ mirrored^T

    @cached_property
    def expression_mirror(self) -> np.ndarray:
        """(53,) int: the expression each one becomes mirrored left-right (``eyeBlink_L`` <->
        ``eyeBlink_R``, ``jawLeft`` <-> ``jawRight``, ``jawOpen`` itself), found from the shapes."""
        flat, mirrored = self._flat_and_mirrored(self.expression_basis)
        # cosine similarity of each mirrored shape with every shape
        sim = (mirrored @ flat.T) / np.outer(np.linalg.norm(mirrored, axis=1), np.linalg.norm(flat, axis=1))
        perm = sim.argmax(1)
        if sorted(perm) != list(range(len(flat))):
            raise FaceModelError("The face model's expressions have no left-right mirror pairing; its "
                                 "blendshapes are not the ICT-FaceKit ones.")
        return perm.astype(np.int64)

    def vertex_normals(self, verts: np.ndarray) -> np.ndarray:
        """(N, 3) unit area-weighted vertex normals of ``verts`` on this topology."""
        t = self.triangles
        v = verts.astype(np.float32, copy=False)
        fn = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
        n = np.zeros_like(v)
        nv = len(v)
        for c in range(3):
            n[:, c] = sum(np.bincount(t[:, k], weights=fn[:, c], minlength=nv) for k in range(3))
        n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
        return n


# ---------------------------------------------------------------------------------------------------
# loading


def landmark_uv(model: FaceModel) -> np.ndarray:
    """(68, 2) atlas UV of each of the 68 landmark vertices (the first loop that uses it)."""
    first = np.full(model.n_vertices, -1)
    lv = model.loop_vertex
    first[lv[::-1]] = np.arange(len(lv))[::-1]
    return model.loop_uv[first[LANDMARKS_68]]


def load_face_model(path: str | Path | None = None) -> FaceModel:
    """Load ICT-FaceKit from ``path`` (``.tar.xz`` or extracted folder), ``$HEADFORGE_FACE_MODEL``,
    or the default in ``../shared``. Cached in memory per path and on disk as a compact ``.npz``.

    Raises :class:`FaceModelError` with what to do when the model is missing or unreadable.
    """
    src = config.face_model_path(path)
    if src is None:
        raise FaceModelError(
            "No ICT-FaceKit face model found. Set the environment variable "
            f"{config.FACE_MODEL_ENV} (or the add-on preference 'Face model') to FaceXModel.tar.xz or an "
            "extracted FaceXModel/ folder from https://github.com/ICT-VGL/ICT-FaceKit (MIT licence).")
    if not src.exists():
        raise FaceModelError(
            f"The face model path {str(src)!r} does not exist. Point {config.FACE_MODEL_ENV} (or the add-on "
            "preference 'Face model') to ICT-FaceKit's FaceXModel.tar.xz or extracted FaceXModel/ folder.")
    key = str(src.resolve())
    with _lock:
        if key in _loaded:
            return _loaded[key]
        digest = hashlib.sha1(f"{key}|{_source_stamp(src)}|{CACHE_VERSION}".encode()).hexdigest()[:16]
        cache_file = config.cache_dir() / f"ictfacekit-{digest}.npz"
        model = None
        if cache_file.exists():
            try:
                model = _from_npz(cache_file, key)
            except Exception:  # a corrupt cache is rebuilt, never fatal
                cache_file.unlink(missing_ok=True)
        if model is None:
            model = _parse_source(src)
            try:
                _to_npz(model, cache_file)
            except OSError:
                pass  # read-only cache dir: work without a cache
        _loaded[key] = model
        return model


def _source_stamp(src: Path) -> str:
    """What the cache is keyed on besides the path: name, size and modification time of every file the
    model is read from (recursively for a folder), so editing any of them rebuilds the cache."""
    files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
    h = hashlib.sha1()
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(src) if p != src else p.name}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _bad_model(src, why: str) -> FaceModelError:
    return FaceModelError(
        f"The face model at {str(src)!r} is not a readable ICT-FaceKit FaceXModel ({why}). Re-extract or "
        f"re-download it and point {config.FACE_MODEL_ENV} (or the add-on preference 'Face model') to it.")


def _read_sources(src: Path) -> dict[str, bytes]:
    """Read every ``.obj`` and ``vertex_indices.json`` of the model into memory, keyed by file name."""
    files: dict[str, bytes] = {}
    if src.is_dir():
        root = src / "FaceXModel" if (src / "FaceXModel").is_dir() else src
        for p in root.iterdir():
            if p.suffix in (".obj", ".json"):
                files[p.name] = p.read_bytes()
        return files
    try:
        with tarfile.open(src, "r:*") as tar:
            for m in tar:
                name = m.name.rsplit("/", 1)[-1]
                if m.isfile() and (name.endswith(".obj") or name == "vertex_indices.json"):
                    files[name] = tar.extractfile(m).read()
    except (tarfile.TarError, OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as e:  # damaged archive
        raise _bad_model(src, f"{type(e).__name__}: {e}") from None
    return files


def _obj_vertices(data: bytes) -> np.ndarray:
    lines = [ln[2:] for ln in data.split(b"\n") if ln.startswith(b"v ")]
    arr = np.array(b" ".join(lines).split(), dtype=np.float32)
    return arr.reshape(-1, 3)


def _parse_topology(data: bytes):
    uvs, loop_v, loop_t, starts, sizes, mats = [], [], [], [], [], []
    mat_names: list[str] = []
    cur = 0
    n_loops = 0
    for ln in data.split(b"\n"):
        if ln.startswith(b"vt "):
            uvs.append(ln[3:])
        elif ln.startswith(b"usemtl "):
            name = ln[7:].strip().decode()
            if name not in mat_names:
                mat_names.append(name)
            cur = mat_names.index(name)
        elif ln.startswith(b"f "):
            corners = ln[2:].split()
            starts.append(n_loops)
            sizes.append(len(corners))
            mats.append(cur)
            n_loops += len(corners)
            for c in corners:
                parts = c.split(b"/")
                loop_v.append(int(parts[0]) - 1)
                loop_t.append(int(parts[1]) - 1)
    uv = np.array(b" ".join(uvs).split(), dtype=np.float32).reshape(-1, 2)
    loop_t = np.asarray(loop_t, np.int64)
    return (np.asarray(loop_v, np.int32), np.asarray(starts, np.int32), np.asarray(sizes, np.int32),
            uv[loop_t], np.asarray(mats, np.int16), tuple(mat_names))


def _parse_source(src: Path) -> FaceModel:
    files = _read_sources(src)
    if "generic_neutral_mesh.obj" not in files or "vertex_indices.json" not in files:
        raise _bad_model(src, "generic_neutral_mesh.obj or vertex_indices.json is missing")
    try:
        meta = json.loads(files["vertex_indices.json"])
        names = tuple(meta["expressions"])
        neutral = _obj_vertices(files["generic_neutral_mesh.obj"])
        if neutral.shape[0] != N_VERTICES:
            raise ValueError(f"{neutral.shape[0]} vertices, expected {N_VERTICES}")
        basis = np.empty((N_IDENTITY + len(names), N_VERTICES * 3), np.float32)
        for k in range(N_IDENTITY):
            basis[k] = (_obj_vertices(files[f"identity{k:03d}.obj"]) - neutral).ravel()
        for k, n in enumerate(names):
            basis[N_IDENTITY + k] = (_obj_vertices(files[f"{n}.obj"]) - neutral).ravel()
        loop_v, starts, sizes, uv, mats, mat_names = _parse_topology(files["generic_neutral_mesh.obj"])
    except KeyError as e:
        raise _bad_model(src, f"missing {e.args[0]}") from None
    except ValueError as e:
        raise _bad_model(src, str(e)) from None
    return FaceModel(neutral=neutral, basis=basis, expression_names=names, loop_vertex=loop_v,
                     poly_start=starts, poly_size=sizes, uv_udim=uv, poly_material=mats,
                     material_names=mat_names, source=str(src))


def _to_npz(m: FaceModel, path: Path) -> None:
    save_npz(path, neutral=m.neutral, basis=m.basis, loop_vertex=m.loop_vertex, poly_start=m.poly_start,
             poly_size=m.poly_size, uv_udim=m.uv_udim, poly_material=m.poly_material,
             expression_names=np.array(m.expression_names), material_names=np.array(m.material_names))


def _from_npz(path: Path, source: str) -> FaceModel:
    with np.load(path, allow_pickle=False) as z:
        return FaceModel(neutral=z["neutral"], basis=z["basis"],
                         expression_names=tuple(str(s) for s in z["expression_names"]),
                         loop_vertex=z["loop_vertex"], poly_start=z["poly_start"],
                         poly_size=z["poly_size"], uv_udim=z["uv_udim"], poly_material=z["poly_material"],
                         material_names=tuple(str(s) for s in z["material_names"]), source=source)
