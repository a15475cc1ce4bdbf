"""What every layer shares: the error tree, settings, the frozen records passed between
stages and the table specs. It imports no other newswatch layer (tests/test_layers.py)."""
