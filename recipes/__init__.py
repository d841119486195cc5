"""Scripts that compose the library: ``python -m recipes.fcn_voc``."""
