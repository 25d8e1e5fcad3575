"""MQTT topics of the head-end link (docs/headend.md). The prefix isolates platforms and
test runs sharing one broker: settings.HEADEND_TOPIC_PREFIX or SOLDE_HEADEND_TOPIC_PREFIX."""

from __future__ import annotations

import os

from django.conf import settings

UP = ("readings", "order-results", "events")


def prefix() -> str:
    return getattr(settings, "HEADEND_TOPIC_PREFIX", None) or os.environ.get(
        "SOLDE_HEADEND_TOPIC_PREFIX", "solde/v1"
    )


def meter_topic(serial: str, leaf: str) -> str:
    return f"{prefix()}/meters/{serial}/{leaf}"


def orders(serial: str) -> str:
    return meter_topic(serial, "orders")


def readings(serial: str) -> str:
    return meter_topic(serial, "readings")


def results(serial: str) -> str:
    return meter_topic(serial, "order-results")


def events(serial: str) -> str:
    return meter_topic(serial, "events")


def all_meters(leaf: str) -> str:
    return f"{prefix()}/meters/+/{leaf}"


def parse(topic: str) -> tuple[str, str] | None:
    """(serial, leaf) of a meter topic under our prefix, else None."""
    head = f"{prefix()}/meters/"
    if not topic.startswith(head):
        return None
    rest = topic[len(head) :].split("/")
    if len(rest) != 2:
        return None
    return rest[0], rest[1]
