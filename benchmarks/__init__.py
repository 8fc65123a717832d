"""npconv's benchmarks: npconv against TensorFlow, PyTorch, JAX, ONNX Runtime and Keras, side by side.

This folder is the repository's tool, not part of the installed package. Run it
from the repository root: ``python -m benchmarks.bench`` (see ``bench.py``).
"""
