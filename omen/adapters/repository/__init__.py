"""Signal indexes: in-memory now; sqlite and postgres later."""
