"""flatten_transactions Glue job: job.py (the Glue entry point) -> run.py (one run) over sources.py (catalog, S3),
transforms.py + schema.py (pure DataFrame steps, the contract as Spark reads it) and load.py (the warehouse)."""
