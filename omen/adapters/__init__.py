"""Concrete adapters behind the application's ports: sources, publishers, ledger, repositories."""
