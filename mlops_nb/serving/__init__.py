"""Serving a registered model: online server, streaming, batch scoring, ONNX export, deployment checks."""
