"""What a notification says: the webhook event's JSON and the email's text."""

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from calculations.models import Calculation

EVENT_TYPE = "calculation.finished"
# A batch email lists this many calculations at most; each has its own link.
EMAIL_MAX_LISTED = 100


def absolute(path: str) -> str:
    return settings.CALCQUEUE_BASE_URL + path


def _timestamp(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def duration_seconds(calculation: Calculation) -> float | None:
    if calculation.started_at is None or calculation.finished_at is None:
        return None
    return (calculation.finished_at - calculation.started_at).total_seconds()


def links(calculation: Calculation) -> dict[str, str | None]:
    api = reverse("api:calculation_get", kwargs={"calculation_id": calculation.id})
    success = calculation.status == Calculation.Status.SUCCESS
    return {
        "self": absolute(api),
        "page": absolute(calculation.get_absolute_url()),
        "output": absolute(f"{api}/output") if success else None,
    }


def webhook_body(*, event_id: str, calculation: Calculation) -> str:
    """The event as sent: compact JSON, digits as strings (never JSON numbers)."""
    success = calculation.status == Calculation.Status.SUCCESS
    event = {
        "id": event_id,
        "type": EVENT_TYPE,
        "created_at": _timestamp(timezone.now()),
        "calculation": {
            "id": str(calculation.id),
            "equation": calculation.equation,
            "n": calculation.n,
            "status": calculation.status,
            "error": calculation.error,
            "attempts": calculation.attempts,
            "created_at": _timestamp(calculation.created_at),
            "started_at": _timestamp(calculation.started_at),
            "finished_at": _timestamp(calculation.finished_at),
            "duration_seconds": duration_seconds(calculation),
            # Whole up to 60 digits; else the first and last 24, all of them at links.output.
            "output": calculation.output_head if success else None,
            "output_tail": calculation.output_tail if success and calculation.output_tail else None,
            "output_digits": calculation.output_digits,
            "output_truncated": bool(success and calculation.output_tail),
            "links": links(calculation),
        },
    }
    return json.dumps(event, separators=(",", ":"))


def email_subject(calculations: Sequence[Calculation]) -> str:
    if len(calculations) == 1:
        (calculation,) = calculations
        return f"calcqueue: {calculation.equation}({calculation.n}) finished: {calculation.status}"
    counts = Counter(calculation.status for calculation in calculations)
    summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    return f"calcqueue: {len(calculations)} calculations finished: {summary}"


def email_message(*, delivery_id: str, address: str, calculations: Sequence[Calculation]):
    """The email for a finished batch (or a single calculation), plain text."""
    rows = [
        {
            "calculation": calculation,
            "duration": duration_seconds(calculation),
            "page": absolute(calculation.get_absolute_url()),
        }
        for calculation in calculations[:EMAIL_MAX_LISTED]
    ]
    body = render_to_string(
        "notifications/email/finished.txt",
        {
            "rows": rows,
            "count": len(calculations),
            "unlisted": max(len(calculations) - EMAIL_MAX_LISTED, 0),
            "site": absolute("/"),
        },
    )
    return EmailMessage(
        subject=email_subject(calculations),
        body=body,
        to=[address],
        # The same Message-ID however often it is sent, so a duplicate is recognisable.
        headers={"Message-ID": f"<{delivery_id}@calcqueue>"},
    )
