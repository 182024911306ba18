"""The settings of the local tooling: the deployed code's reader plus what only a checkout knows.

The typed reader (``Settings``, ``from_env``, ``get_settings``, ``reset_settings_cache``)
lives with the deployed code, in ``contracts/config.py``; it is re-exported here so
that the local runtime, the CLI, benchmarks and tests keep one import path, and so
that there is one ``get_settings`` cache, not two. The ``mtx`` CLI sets the same
MTX_* variables Terraform sets in AWS.
"""

from __future__ import annotations

from pathlib import Path

from contracts.config import Settings, from_env, get_settings, reset_settings_cache

#: The root of the checkout (the local state is under REPO_ROOT/.local).
REPO_ROOT = Path(__file__).resolve().parent.parent

__all__ = ["REPO_ROOT", "Settings", "from_env", "get_settings", "reset_settings_cache"]
