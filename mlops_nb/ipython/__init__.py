"""The IPython adapters: the %mlops magics and the in-notebook comparison widget (the only IPython imports)."""
