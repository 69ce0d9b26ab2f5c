import tarfile

import numpy as np
import pytest

from headforge.core import FaceModelError, facemodel
from headforge.core.facemodel import N_VERTICES
from headforge.core.config import FACE_MODEL_ENV, face_model_path


def _obj_vertices(path_in_tar: str) -> np.ndarray:
    with tarfile.open(face_model_path(), "r:*") as tar:
        m = next(m for m in tar if m.name.endswith(path_in_tar))
        return facemodel._obj_vertices(tar.extractfile(m).read())


def test_topology_and_facts(model):
    assert model.n_vertices == N_VERTICES
    assert len(model.poly_start) == 26384
    assert model.identity_basis.shape == (100, N_VERTICES, 3)
    assert model.expression_basis.shape == (53, N_VERTICES, 3)
    assert "jawOpen" in model.expression_names and "browInnerUp_L" in model.expression_names
    # outer eye corners 8.9 cm apart (cm units)
    eye = np.linalg.norm(model.neutral[model.landmarks68[36]] - model.neutral[model.landmarks68[45]])
    assert 8.5 < eye < 9.3
    # regions partition the mesh in order
    assert model.region("face")[-1] + 1 == model.region("head_neck")[0]
    assert model.region("eyelashes_R")[-1] == 26718
    # skin atlas UVs stay in the unit square; face tile left, back of head right
    uv = model.loop_uv[model.skin_polygons[model.poly_index_of_loop]]
    assert uv.min() >= 0 and uv.max() <= 1


def test_evaluation_reproduces_upstream_meshes(model):
    """Identity mode k at +1 and an expression at weight 1 give exactly the upstream OBJ vertices."""
    ident = np.zeros(100)
    ident[7] = 1.0
    np.testing.assert_allclose(model.vertices(identity=ident), _obj_vertices("identity007.obj"), atol=1e-4)
    np.testing.assert_allclose(model.vertices(expression={"jawOpen": 1.0}), _obj_vertices("jawOpen.obj"), atol=1e-4)
    np.testing.assert_allclose(model.vertices(), _obj_vertices("generic_neutral_mesh.obj"), atol=1e-5)
    # subsets agree with the full evaluation
    rng = np.random.default_rng(0)
    a, e = rng.normal(size=100), rng.uniform(size=53)
    sub = np.array([0, 5, 9408, 26718])
    np.testing.assert_allclose(model.vertices(a, e, subset=sub), model.vertices(a, e)[sub], atol=1e-4)


def test_mirror_maps(model):
    """Left-right mirror of identity coefficients and expressions (used to average CoarseNet's guess with
    its guess on the mirrored crop)."""
    M, perm = model.identity_mirror, model.expression_mirror
    a = np.random.default_rng(3).normal(0, 1, 100)
    mirrored = model.vertices(a)[model.mirror] * np.array([-1.0, 1.0, 1.0])
    err = np.linalg.norm(model.vertices(M @ a) - mirrored, axis=1)
    size = np.linalg.norm(model.vertices(a) - model.vertices(), axis=1)
    print(f"mirrored identity: mean error {err.mean():.4f} cm against a {size.mean():.3f} cm deviation")
    assert err.mean() < 0.02 * size.mean()
    np.testing.assert_allclose(M @ M, np.eye(100), atol=0.2)
    names = model.expression_names
    for x, y in (("eyeBlink_L", "eyeBlink_R"), ("jawLeft", "jawRight"), ("mouthSmile_R", "mouthSmile_L"),
                 ("jawOpen", "jawOpen"), ("mouthPucker", "mouthPucker")):
        assert names[perm[names.index(x)]] == y
    np.testing.assert_array_equal(perm[perm], np.arange(len(names)))


def test_cache_is_used(tmp_path, monkeypatch):
    """The second load (a fresh process, say) reads the disk cache, not the model's archive."""
    monkeypatch.setenv("HEADFORGE_CACHE_DIR", str(tmp_path))
    facemodel._loaded.clear()
    first = facemodel.load_face_model()
    assert list(tmp_path.glob("ictfacekit-*.npz"))
    facemodel._loaded.clear()

    def no_parse(src):
        raise AssertionError(f"the model was parsed again from {src}")

    monkeypatch.setattr(facemodel, "_parse_source", no_parse)
    again = facemodel.load_face_model()
    np.testing.assert_array_equal(first.basis[:3], again.basis[:3])
    np.testing.assert_array_equal(first.loop_uv, again.loop_uv)
    facemodel._loaded.clear()


def test_missing_model_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(FACE_MODEL_ENV, str(tmp_path / "nope.tar.xz"))
    with pytest.raises(FaceModelError, match=FACE_MODEL_ENV):
        facemodel.load_face_model()


def test_corrupt_model_is_a_clear_error(monkeypatch, tmp_path):
    bad = tmp_path / "FaceXModel.tar.xz"
    bad.write_bytes(b"this is not a tarball")
    monkeypatch.setenv(FACE_MODEL_ENV, str(bad))
    monkeypatch.setenv("HEADFORGE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(FaceModelError, match="not a readable ICT-FaceKit"):
        facemodel.load_face_model()
    empty_dir = tmp_path / "FaceXModel"
    empty_dir.mkdir()
    monkeypatch.setenv(FACE_MODEL_ENV, str(empty_dir))
    with pytest.raises(FaceModelError, match=FACE_MODEL_ENV):
        facemodel.load_face_model()


def test_version_is_written_once():
    """The version lives in blender_manifest.toml; the package metadata agrees with it."""
    import tomllib

    import headforge
    from headforge.core import config

    pyproject = tomllib.loads((config.PACKAGE_ROOT / "pyproject.toml").read_text())
    assert headforge.__version__ == config.version() == pyproject["project"]["version"]
