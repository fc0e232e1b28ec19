"""Built-in cells, one small file each. Every module in this package is imported (and so registered)
automatically: adding a cell means adding a file here and touching nothing else."""

import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
