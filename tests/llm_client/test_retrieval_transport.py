"""llm_client's searches on a streaming session (issue 26): the same answers as unary Search calls, token and
chunk stores alike, futures completing while the caller computes, a stream that ended reopened."""
import numpy as np
import pytest
from ivfpq.errors import HwragError


@pytest.fixture(scope="module")
def served(knn_store, chunk_store):
    from llm_client.datastore import to_serve
    from retrieval_service.local import LocalCluster

    stores = {"token": knn_store, "chunk": chunk_store}
    with LocalCluster(to_serve(stores), nshards=2, backend="cpu") as c:
        yield c, stores


def test_stream_and_unary_transports_answer_alike(served):
    from llm_client.retrieval import StoreRef, Retriever

    c, stores = served
    refs = {kind: StoreRef(c.address, ds.index_name, ds.nlist) for kind, ds in stores.items()}
    rng = np.random.default_rng(0)
    with Retriever(refs, transport="stream") as rs, Retriever(refs, transport="unary") as ru:
        assert rs.transport == "stream" and ru.transport == "unary"
        for kind, ds in stores.items():
            q = rng.standard_normal((3, ds.meta["d"])).astype(np.float32)
            futs = [rs.submit(kind, q[i:i + 1], 8, 4) for i in range(3)]  # in flight together on one stream
            want = ru.search(kind, q, 8, 4).result
            for i, f in enumerate(futs):
                t = f.result(timeout=30)
                assert t.latency_s > 0 and t.t_done >= t.t_submit
                np.testing.assert_array_equal(t.result.ids[0], want.ids[i])
                assert t.result.payloads[0] == want.payloads[i]
            np.testing.assert_array_equal(rs.search(kind, q, 8, 4).result.ids, want.ids)
        assert len(rs._sessions) == 1  # one stream for both stores of the address


def test_an_ended_stream_is_opened_again(served):
    from llm_client.retrieval import StoreRef, Retriever

    c, stores = served
    ds = stores["token"]
    q = np.zeros((1, ds.meta["d"]), np.float32)
    with Retriever({"token": StoreRef(c.address, ds.index_name, ds.nlist)}) as r:
        first = r.search("token", q, 4, 2).result.ids
        old = r._sessions[c.address]
        old._call.cancel()  # the stream ends (as when the service restarts)
        old._reader.join(10)
        assert old.ended is not None
        np.testing.assert_array_equal(r.search("token", q, 4, 2).result.ids, first)
        assert r._sessions[c.address] is not old


def test_bad_transport_is_a_clear_error():
    from llm_client.retrieval import Retriever

    with pytest.raises(HwragError, match="transport='grpc'; accepted: stream, unary"):
        Retriever({}, transport="grpc")
