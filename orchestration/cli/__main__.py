"""``python -m orchestration.cli``: the ``mtx`` command."""

from orchestration.cli.main import main

raise SystemExit(main())
