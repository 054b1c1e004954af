"""TensorRT: the runtime backend, the engine builder, the engine cache and ONNX-parser checks."""
