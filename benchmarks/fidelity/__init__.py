"""Drawing-fidelity benchmark: MNIST digits and hand-designed digits as canvas strokes."""
