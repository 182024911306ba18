"""flatten_transactions Glue job: job.py (IO, arguments) over transforms.py (pure DataFrame steps)."""
