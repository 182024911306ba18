"""Structured JSON logging (aws-lambda-powertools) shared by the handlers."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from contracts.config import get_settings


def get_logger(service: str) -> Logger:
    return Logger(service=service, level=get_settings().log_level)
