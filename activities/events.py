"""Merchant event delivery: one signed POST per attempt; Temporal retries until the endpoint answers 2xx.

The workflow decides what to send and in which order (:mod:`billing.events`); this activity only signs
the exact body with the current time and sends it. Any answer other than 2xx, a timeout or a connection
error fails the attempt, and the workflow's retry policy schedules the next one (``Retry-After`` on 429 and
503 is honoured, up to an hour). Redirects are not followed: an endpoint that moved must be reconfigured.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import httpx
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from billing.events import EVENT_ID_HEADER, SIGNATURE_HEADER, MerchantEvent, sign
from billing.settings import MerchantEventSettings

ENDPOINT_REJECTED = "EndpointRejected"
ENDPOINT_UNREACHABLE = "EndpointUnreachable"
MAX_RETRY_AFTER = timedelta(hours=1)
USER_AGENT = "billing-engine-events/1"


class EventDelivery(BaseModel):
    delivered: bool
    status_code: int | None = None
    attempt: int = 1
    #: Why nothing was sent (no endpoint configured on this worker).
    skipped: str | None = None


def _retry_after(response: httpx.Response) -> timedelta | None:
    if response.status_code not in (429, 503):
        return None
    value = response.headers.get("retry-after", "").strip()
    if not value.isdigit():
        return None
    return min(timedelta(seconds=int(value)), MAX_RETRY_AFTER)


class EventActivities:
    def __init__(
        self,
        settings: MerchantEventSettings,
        *,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._http = http_client or httpx.AsyncClient(
            timeout=settings.timeout_seconds, follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )
        self._clock = clock

    def all(self) -> list[Callable[..., object]]:
        return [self.enabled, self.deliver]

    async def aclose(self) -> None:
        await self._http.aclose()

    @activity.defn(name="events.enabled")
    async def enabled(self) -> bool:
        """Whether this deployment sends merchant events (asked once per workflow, as a local activity)."""
        return self.settings.enabled()

    @activity.defn(name="events.deliver")
    async def deliver(self, event: MerchantEvent) -> EventDelivery:
        attempt = activity.info().attempt
        if self.settings.url is None:
            return EventDelivery(delivered=False, attempt=attempt, skipped="BILLING_EVENTS_URL is not set")
        body = event.body()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, self.settings.secret_list(), int(self._clock())),
            EVENT_ID_HEADER: event.id,
        }
        try:
            response = await self._http.post(self.settings.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ApplicationError(
                f"{event.type} {event.id}: endpoint unreachable ({type(exc).__name__})", type=ENDPOINT_UNREACHABLE
            ) from None
        if 200 <= response.status_code < 300:
            return EventDelivery(delivered=True, status_code=response.status_code, attempt=attempt)
        raise ApplicationError(
            f"{event.type} {event.id}: endpoint answered {response.status_code}",
            type=ENDPOINT_REJECTED,
            next_retry_delay=_retry_after(response),
        )
