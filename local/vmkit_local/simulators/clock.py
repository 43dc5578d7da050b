"""Timestamps in the formats the simulated APIs use."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_seconds(moment: datetime) -> str:
    """`2024-05-01T12:00:00Z`, as GitHub writes times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_offset(moment: datetime) -> str:
    """`2024-05-01T12:00:00+00:00`, as Hetzner writes times."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def iso_micro(moment: datetime) -> str:
    """`2024-05-01T12:00:00.123456Z`, as Cloudflare writes times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
