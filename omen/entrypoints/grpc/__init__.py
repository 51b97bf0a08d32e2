"""The gRPC entrypoint: thin servicers translating between omen.v1 messages and the domain."""
