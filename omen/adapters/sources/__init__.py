"""Event sources: adapters that turn a source's records into RawEvents."""
