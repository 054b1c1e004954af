"""Work without a robot: bag and folder replay, benchmarking, segmentation metrics."""
