"""Export a trained checkpoint to ONNX, OpenVINO, TFLite, NCNN and ExecuTorch in fp32, fp16 and int8.

One module per target (``onnx.py``, ``openvino.py``, ``tflite.py``, ``ncnn.py``, ``executorch.py``) sharing the
calibration (``calibration.py``) and manifest (``manifest.py``) code; ``pipeline.py``
runs them, checks every artifact in its own runtime and writes the manifests.
"""
