"""Generated protobuf package; do not edit (python -m tools.protogen)."""
