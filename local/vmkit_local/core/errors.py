"""Errors of the local stack itself (not of the control plane it runs)."""

from __future__ import annotations


class LocalStackError(Exception):
    """The local stack cannot start or run as configured; the message says what to fix."""


class TemplateError(LocalStackError):
    """The template uses something the local stack cannot build, or is malformed."""


class FunctionNotFound(LocalStackError):
    """No function of the template answers to this name or ARN."""
