"""Verifying MLflow's webhook deliveries: ``X-MLflow-Signature`` is ``v1,`` + base64(HMAC-SHA256(secret,
"<delivery id>.<timestamp>.<raw body>")); deliveries older than the replay window or seen before are
refused (MLflow's retries resend the same id)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import OrderedDict
from typing import Any

from mlops_nb.exceptions import MlopsError

REPLAY_WINDOW_S = 300


class WebhookRejected(MlopsError):
    """A webhook delivery that is not signed by the configured secret, too old, or a replay."""

    status = 401


class WebhookVerifier:
    def __init__(self, secret: str | None, *, window: float = REPLAY_WINDOW_S) -> None:
        self.secret = secret
        self.window = window
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        """The event, once its signature, age and novelty are checked."""
        if not self.secret:
            raise WebhookRejected(
                "This server accepts no webhooks: no secret is configured.",
                hint="Start it with MLOPS_NB_WEBHOOK_SECRET set to the webhook's secret.",
            )
        lowered = {key.lower(): value for key, value in headers.items()}
        delivery = lowered.get("x-mlflow-delivery-id", "")
        stamp = lowered.get("x-mlflow-timestamp", "")
        signature = lowered.get("x-mlflow-signature", "")
        if not delivery or not stamp.isdigit() or not signature.startswith("v1,"):
            raise WebhookRejected(
                "Missing or malformed X-MLflow-Delivery-Id, -Timestamp or -Signature headers."
            )
        expected = signature_of(self.secret, delivery, stamp, body)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise WebhookRejected("The webhook signature does not match.")
        if abs(time.time() - int(stamp)) > self.window:
            raise WebhookRejected(f"The webhook delivery is older than {self.window:g} s (replay window).")
        with self._lock:
            if delivery in self._seen:
                raise WebhookRejected("This webhook delivery was already received.")
            self._seen[delivery] = time.time()
            while len(self._seen) > 10_000:
                self._seen.popitem(last=False)
        try:
            event = json.loads(body)
        except ValueError:
            raise WebhookRejected("The webhook body is not JSON.") from None
        if not isinstance(event, dict):
            raise WebhookRejected("The webhook body is not a JSON object.")
        return event


def signature_of(secret: str, delivery: str, stamp: str, body: bytes) -> str:
    """MLflow's signature of a delivery."""
    message = f"{delivery}.{stamp}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
