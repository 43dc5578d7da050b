"""Webhook deliveries of the GitHub App, sent as GitHub's hookshot sends them.

One delivery thread, first in first out, so a run's `requested`, `in_progress` and
`completed` arrive in order. Each delivery is a POST of the compact JSON payload with
`X-GitHub-Event`, a fresh `X-GitHub-Delivery` uuid, `X-Hub-Signature-256` (HMAC-SHA256
of the raw body with the secret, plus the legacy SHA-1 header) and a `GitHub-Hookshot`
user agent. Like GitHub, failed deliveries are recorded and not retried; `redeliver`
sends one again with the same delivery id, as the "Redeliver" button does.
"""

from __future__ import annotations

import hmac
import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from ..clock import iso_seconds, utc_now

DELIVERY_TIMEOUT = 10.0
HISTORY = 500


@dataclass(frozen=True)
class Delivery:
    id: int
    guid: str
    event: str
    action: str | None
    body: bytes = field(repr=False)
    redelivery: bool = False
    status_code: int | None = None
    """The receiver's status, or None when it could not be reached."""
    error: str | None = None
    delivered_at: str | None = None
    duration: float | None = None


def sign(secret: str, body: bytes, digest: str = "sha256") -> str:
    return f"{digest}=" + hmac.new(secret.encode(), body, digest).hexdigest()


class WebhookSender:
    def __init__(self, *, hook_id: int, app_id: int) -> None:
        self._hook_id = hook_id
        self._app_id = app_id
        self._url: str | None = None
        self._secret: str | None = None
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._lock = threading.Condition()
        self._pending = 0
        self._history: list[Delivery] = []
        self._next_id = 1
        self._thread = threading.Thread(target=self._work, name="github-webhooks", daemon=True)
        self._thread.start()

    def configure(self, url: str | None, secret: str | None) -> None:
        with self._lock:
            self._url, self._secret = url, secret

    def send(self, event: str, payload: dict[str, Any]) -> Delivery | None:
        """Queue a delivery of `payload`; None when no webhook URL is configured."""
        with self._lock:
            if self._url is None:
                return None
            delivery = Delivery(
                id=self._next_id,
                guid=str(uuid.uuid4()),
                event=event,
                action=payload.get("action"),
                body=json.dumps(payload, separators=(",", ":")).encode(),
            )
            self._next_id += 1
            self._enqueue(delivery)
            return delivery

    def redeliver(self, guid: str) -> Delivery:
        with self._lock:
            original = next((d for d in reversed(self._history) if d.guid == guid), None)
            if original is None:
                raise KeyError(f"no delivery {guid}")
            again = replace(
                original,
                id=self._next_id,
                redelivery=True,
                status_code=None,
                error=None,
                delivered_at=None,
                duration=None,
            )
            self._next_id += 1
            self._enqueue(again)
            return again

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._history)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued delivery was attempted; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(DELIVERY_TIMEOUT + 5)

    def _enqueue(self, delivery: Delivery) -> None:
        self._pending += 1
        self._queue.put(delivery)

    def _work(self) -> None:
        with httpx.Client(timeout=DELIVERY_TIMEOUT) as client:
            while (delivery := self._queue.get()) is not None:
                done = self._deliver(client, delivery)
                with self._lock:
                    self._history = [*self._history, done][-HISTORY:]
                    self._pending -= 1
                    self._lock.notify_all()

    def _deliver(self, client: httpx.Client, delivery: Delivery) -> Delivery:
        with self._lock:
            url, secret = self._url, self._secret
        headers = {
            "Accept": "*/*",
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/7b6a3ab",
            "X-GitHub-Event": delivery.event,
            "X-GitHub-Delivery": delivery.guid,
            "X-GitHub-Hook-ID": str(self._hook_id),
            "X-GitHub-Hook-Installation-Target-ID": str(self._app_id),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
        }
        if secret:
            headers["X-Hub-Signature"] = sign(secret, delivery.body, "sha1")
            headers["X-Hub-Signature-256"] = sign(secret, delivery.body)
        started = time.monotonic()
        status, error = None, None
        try:
            if url is None:
                raise httpx.InvalidURL("no webhook URL configured")
            status = client.post(url, content=delivery.body, headers=headers).status_code
        except httpx.HTTPError as failure:
            error = type(failure).__name__
        return replace(
            delivery,
            status_code=status,
            error=error,
            delivered_at=iso_seconds(utc_now()),
            duration=round(time.monotonic() - started, 3),
        )
