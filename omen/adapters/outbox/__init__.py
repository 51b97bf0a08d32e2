"""The outbox's adapters: the ledger feed, publisher cursor files and dead-letter files."""
