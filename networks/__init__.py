"""Training, with torch: the networks (``coarsenet``, ``finenet``), the synthetic set's reader (``dataset``),
the training loops (``train_coarse``, ``train_fine``, shared pieces in ``training``), ONNX export
(``onnx_export``) and the MediaPipe -> ICT correspondence learner (``learn_correspondence``, numpy only).

Imports ``core`` (the set's layout, the face model, the inference-side inputs) but never ``addon``; the
product never imports this package: it runs the exported ONNX files from ``core``.
"""
