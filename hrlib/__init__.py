"""hrlib: hyper-representations of neural network weights, learned from model zoos."""

__version__ = "0.1.0"

from hrlib.zoos.zoo import Zoo, ZooError, load_zoo  # noqa: E402

__all__ = ["Zoo", "ZooError", "load_zoo", "__version__"]
