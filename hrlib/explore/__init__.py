"""Looking at a zoo: the widget explorer, its maps and side panel, and plotly figures for the notebooks.

- `app`: `Explorer`, the ipywidgets app;
- `projections`: 2-D maps (UMAP, PCA) of W, s(W) or z, cached;
- `panel`: what the side panel shows about a checkpoint or a selection;
- `plots`: figures of zoos, training runs and probe predictions.

Needs the ``explore`` extra (plotly, ipywidgets, anywidget, umap-learn).
"""

from hrlib.explore.app import Explorer

__all__ = ["Explorer"]
