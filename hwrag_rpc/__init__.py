"""Generated protobuf/gRPC code (protocol package ``hwrag.v1``); see ``retrieval_service/gen_proto.py``."""
