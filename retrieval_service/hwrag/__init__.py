"""Generated protobuf/gRPC code, package ``hwrag`` of the ``.proto`` sources (see gen_proto.py)."""
