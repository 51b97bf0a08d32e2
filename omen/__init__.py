"""OMEN: a signal intelligence engine that turns raw market events into OmenSignal records."""

__version__ = "0.1.0"
