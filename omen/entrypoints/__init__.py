"""Ways into OMEN: the gRPC server and the `omen` command line."""
