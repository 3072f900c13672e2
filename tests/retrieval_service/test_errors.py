"""Bad input gets INVALID_ARGUMENT or NOT_FOUND with a clear message, and the servers keep serving."""
import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from ivfpq.scan import search
from retrieval_service.client import RetrievalClient, RetrievalError
from retrieval_service.coordinator import CoordinatorConfig
from hwrag_rpc.v1 import common_pb2, memory_node_pb2, memory_node_pb2_grpc, retrieval_pb2
from retrieval_service.local import LocalCluster
from retrieval_service.wire import pack_i64, pack_matrix

MAX_K, MAX_BATCH, MAX_BYTES = 64, 100, 40_000
INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND


@pytest.fixture(scope="module")
def cluster(index):
    cfg = CoordinatorConfig(max_k=MAX_K, max_batch=MAX_BATCH, max_request_bytes=MAX_BYTES)
    with LocalCluster(index, 2, config=cfg) as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster):
    with RetrievalClient(cluster.address, timeout=10) as c:
        yield c


def raw_search(cluster, req: retrieval_pb2.SearchRequest | bytes):
    with grpc.insecure_channel(cluster.address) as ch:
        call = ch.unary_unary("/hwrag.v1.Retrieval/Search", request_serializer=lambda x: x,
                              response_deserializer=retrieval_pb2.SearchResponse.FromString)
        return call(req if isinstance(req, bytes) else req.SerializeToString(), timeout=10)


def q(n=3, d=32, fill=None):
    a = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
    if fill is not None:
        a[0, 1] = fill
    return a


BAD = {
    "wrong dimension": (dict(queries=q(d=31)), INVALID, "shape"),
    "nan": (dict(queries=q(fill=np.nan)), INVALID, "NaN"),
    "inf": (dict(queries=q(fill=np.inf)), INVALID, "inf"),
    "k=0": (dict(k=0), INVALID, "k=0"),
    "k above limit": (dict(k=MAX_K + 1), INVALID, f"1..{MAX_K}"),
    "nprobe=0": (dict(nprobe=0), INVALID, "nprobe=0"),
    "nprobe > nlist": (dict(nprobe=33), INVALID, "nlist=32"),
    "empty batch": (dict(queries=np.zeros((0, 32), np.float32)), INVALID, "empty"),
    "too many queries": (dict(queries=q(n=MAX_BATCH + 1)), INVALID, f"at most {MAX_BATCH}"),
    "oversized message": (dict(queries=q(n=MAX_BATCH - 1, d=32 * 4)), grpc.StatusCode.RESOURCE_EXHAUSTED,
                          "larger than max (50714 vs. 40000)"),
    "unknown index": (dict(index="nope"), NOT_FOUND, "unknown index 'nope'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input(client, case):
    kw, code, words = BAD[case]
    args = dict(queries=q(), k=5, nprobe=4, index="default") | kw
    with pytest.raises(RetrievalError) as e:
        client.search(args.pop("queries"), args.pop("k"), args.pop("nprobe"), **args)
    assert e.value.code == code, e.value
    assert words in e.value.details, e.value.details
    assert "Traceback" not in e.value.details
    assert client.search(q(), 5, 4).ids.shape == (3, 5)  # still serving


@pytest.mark.parametrize("mutate, words", [
    (lambda r: r.queries.__setattr__("data", r.queries.data[:-3]), "do not hold shape"),
    (lambda r: r.queries.shape.append(2), "2 dimensions"),
    (lambda r: r.__setattr__("policy", 7), "policy"),
])
def test_malformed_fields(cluster, client, mutate, words):
    req = retrieval_pb2.SearchRequest(index="default", queries=pack_matrix(q()), k=5, nprobe=4)
    mutate(req)
    with pytest.raises(grpc.RpcError) as e:
        raw_search(cluster, req)
    assert e.value.code() == INVALID and words in e.value.details()
    assert client.search(q(), 5, 4).complete


@pytest.mark.parametrize("raw", [b"\xff\xff\xff\xff", b"\x12\x05abc", bytes(range(7, 60))])
def test_malformed_message_bytes(cluster, client, raw):
    with pytest.raises(grpc.RpcError) as e:
        raw_search(cluster, raw)
    assert e.value.code() == INVALID, e.value
    assert client.search(q(), 5, 4).complete


def test_node_refuses_wrong_index_or_shard(cluster, index):
    from retrieval_service.wire import index_fingerprint

    fp = index_fingerprint(index)
    good = dict(index="default", fingerprint=fp, shard=0, nshards=2, queries=pack_matrix(q(n=2)),
                probe=pack_i64(np.zeros((2, 1), np.int64)), nprobe=1, k=3)
    with grpc.insecure_channel(cluster.node_addresses[0]) as ch:
        stub = memory_node_pb2_grpc.MemoryNodeStub(ch)
        assert stub.Scan(memory_node_pb2.ScanRequest(**good), timeout=10).number_format == common_pb2.FIXED_POINT
        for change, code in [(dict(fingerprint="x" * 32), grpc.StatusCode.FAILED_PRECONDITION),
                             (dict(shard=1), grpc.StatusCode.FAILED_PRECONDITION),
                             (dict(index="other"), NOT_FOUND),
                             (dict(probe=pack_i64(np.full((2, 1), 99, np.int64))), INVALID),
                             (dict(probe=b"\x00" * 5), INVALID),
                             (dict(k=0), INVALID)]:
            with pytest.raises(grpc.RpcError) as e:
                stub.Scan(memory_node_pb2.ScanRequest(**(good | change)), timeout=10)
            assert e.value.code() == code, (change, e.value)


finite = st.floats(-1e3, 1e3, width=32)
special = st.sampled_from([np.nan, np.inf, -np.inf])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(nq=st.integers(0, 4), d=st.sampled_from([31, 32, 33, 1]), k=st.integers(0, 2 * MAX_K),
       nprobe=st.integers(0, 40), index_name=st.sampled_from(["default", "", "other"]),
       bad_value=st.one_of(st.none(), special), seed=st.integers(0, 2**16))
def test_property_request_fields(client, index, nq, d, k, nprobe, index_name, bad_value, seed):
    x = np.random.default_rng(seed).uniform(-50, 50, (nq, d)).astype(np.float32)
    if bad_value is not None and x.size:
        x.flat[seed % x.size] = bad_value
    valid_input = (nq >= 1 and d == 32 and np.isfinite(x).all() and 1 <= k <= MAX_K and 1 <= nprobe <= 32)
    known = index_name in ("default", "")
    try:
        r = client.search(x, k, nprobe, index=index_name)
    except RetrievalError as e:
        assert "Traceback" not in e.details
        assert e.code == (NOT_FOUND if not known else INVALID), (e, nq, d, k, nprobe)
        assert not (valid_input and known)
        return
    assert valid_input and known
    np.testing.assert_array_equal(r.ids, search(index, x, k, nprobe).ids)
