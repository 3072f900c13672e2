"""Generated stubs are never hand-edited and never stale (docs/DESIGN.md § Contracts, 6)."""
from retrieval_service import gen_proto


def test_stubs_are_fresh():
    stale = gen_proto.stale_files()
    assert not stale, (f"stale generated stubs {stale}: run `{gen_proto.COMMAND}` and commit the result")


def test_stubs_name_source_and_command():
    for p in gen_proto.OUT_DIR.glob("*_pb2*.py"):
        head = p.read_text().splitlines()[0]
        assert "proto/hwrag_rpc/v1/" in head and gen_proto.COMMAND in head, p


def test_stubs_import_as_generated():
    """protoc's own import lines resolve: the package path matches the .proto path, nothing is rewritten."""
    from hwrag_rpc.v1 import memory_node_pb2_grpc, retrieval_pb2_grpc  # noqa: F401
    for p in gen_proto.OUT_DIR.glob("*_pb2*.py"):
        body = p.read_text().split("\n", 2)[2]  # after the two header lines
        assert "retrieval_service" not in body, p
