"""Image data sets: `load(name, split)` for tetris, digits, MNIST, Fashion-MNIST, CIFAR-10 and SVHN.

- `catalog`: the one entry point, `load`, and class-stratified subsets;
- `toy`: tetris and digits, built in (no files);
- `idx`: MNIST and Fashion-MNIST from their IDX files (found, added to the cache, or downloaded);
- `cifar_svhn`: CIFAR-10 and SVHN from files a user supplies;
- `cache`: where hrlib keeps data files, and `DataNotFound`.
"""

from hrlib.datasets.cache import DataNotFound
from hrlib.datasets.catalog import load

__all__ = ["DataNotFound", "load"]
