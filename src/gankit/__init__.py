"""gankit: train, evaluate and use GANs on PyTorch."""

__version__ = "0.1.0"
