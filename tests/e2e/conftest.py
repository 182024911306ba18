"""The Terraform-provisioned local stack for tests/e2e/test_terraform_local_stack.py: started in the background
by the tests.terraform_stack plugin as soon as the run knows it needs it; ``tf_stack`` waits for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.terraform_stack import TERRAFORM_STACK


@pytest.fixture(scope="module")
def tf_stack() -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    """(stack.json of the Terraform-provisioned stack + its home, its stack.env), up until the module ends."""
    try:
        yield TERRAFORM_STACK.wait()
    finally:
        TERRAFORM_STACK.stop()
