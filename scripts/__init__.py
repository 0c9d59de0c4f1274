"""Developer scripts (scripts/gen_protos.py generates the protobuf code)."""
