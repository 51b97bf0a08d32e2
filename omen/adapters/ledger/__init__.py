"""The durable ledger: WAL segments, partitions, group commit, sealing, compression, recovery."""
