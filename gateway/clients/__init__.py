"""The gateway's own gRPC clients of the services (the edge proxy relays callers' calls; these make calls)."""
