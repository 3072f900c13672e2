"""Generated stubs of ``proto/hwrag_rpc/v1/*.proto``: regenerate with ``python -m retrieval_service.gen_proto``."""
