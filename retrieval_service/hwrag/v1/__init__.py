"""Generated stubs of ``proto/hwrag/v1/*.proto``: regenerate with ``python -m retrieval_service.gen_proto``."""
