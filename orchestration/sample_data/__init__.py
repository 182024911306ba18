"""Sample data: the shop catalogue and seeded, reproducible sample transactions (``mtx generate``)."""
