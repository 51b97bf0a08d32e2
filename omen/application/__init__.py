"""Use cases and the ports they need; wires domain logic to adapters without knowing them."""
