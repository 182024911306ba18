"""The ``mtx`` command line and the tools it runs: the demo, sample files into the pipeline, dead letters, the soak.

Entry point: :func:`orchestration.cli.main.main`.
"""
