"""Running a contract model: the I/O contract, the backend interface, ONNX Runtime and TensorRT."""
