"""Publishers: console (JSON lines on stdout), webhook (HTTP POST), Kafka; built from settings."""

from __future__ import annotations

from omen.application.ports import Publisher
from omen.config import PublisherSettings


def build_publisher(settings: PublisherSettings) -> Publisher:
    """The publisher a [[publishers]] table describes (nothing connects until start())."""
    if settings.kind == "console":
        from omen.adapters.publishers.console import ConsolePublisher

        return ConsolePublisher(settings)
    if settings.kind == "webhook":
        from omen.adapters.publishers.webhook import WebhookPublisher

        return WebhookPublisher(settings)
    if settings.kind == "kafka":
        from omen.adapters.publishers.kafka import KafkaPublisher

        return KafkaPublisher(settings)
    raise ValueError(f"unknown publisher kind {settings.kind!r}")
