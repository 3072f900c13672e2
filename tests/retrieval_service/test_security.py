"""Token authentication (UNAUTHENTICATED), admin RPCs, TLS round trips and safe binding."""
import asyncio

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from ivfpq.errors import HwragError
from ivfpq.scan import search
from retrieval_service.client import RetrievalClient, RetrievalError
from retrieval_service.coordinator import CoordinatorConfig
from retrieval_service.local import LocalCluster, LoopThread
from retrieval_service.memory_node import MemoryNode, create_server
from retrieval_service.security import Security, check_bind, make_self_signed

TOKEN, ADMIN = "s3cret-token", "admin-token"
UNAUTH = grpc.StatusCode.UNAUTHENTICATED


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def secure_cluster(index, certs):
    cert, key = certs
    sec = Security(str(cert), str(key), token=TOKEN, admin_token=ADMIN)
    node_sec = Security(str(cert), str(key), token="node-token", admin_token="node-admin")
    cfg = CoordinatorConfig(node_token="node-token", node_admin_token="node-admin", node_tls_root=str(cert))
    # one address family (the certificate names 127.0.0.1): "localhost:0" resolves to ::1 and 127.0.0.1, and
    # where the port picked for one is taken on the other by another process (pytest-xdist's other worker),
    # gRPC binds only the one, so a client of localhost:P may reach that other process (seen once: the
    # plain-TCP check below answered by another worker's plaintext node)
    with LocalCluster(index, 2, config=cfg, security=sec, node_security=node_sec, host="127.0.0.1") as c:
        yield c


def test_tls_and_token_round_trip(secure_cluster, certs, index, data):
    xq = data[1][:5]
    with RetrievalClient(secure_cluster.address, token=TOKEN, tls_root_cert=certs[0]) as cl:
        r = cl.search(xq, 5, 4)
        np.testing.assert_array_equal(r.ids, search(index, xq, 5, 4).ids)
        with cl.stream() as s:
            assert s.search(xq[0], 5, 4).complete


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x"])
def test_missing_or_wrong_token(secure_cluster, certs, data, token):
    with RetrievalClient(secure_cluster.address, token=token, tls_root_cert=certs[0]) as cl:
        for call in (lambda: cl.search(data[1][:2], 5, 4), cl.info):
            with pytest.raises(RetrievalError) as e:
                call()
            assert e.value.code == UNAUTH and "token" in e.value.details
        with pytest.raises(RetrievalError) as e, cl.stream() as s:
            s.search(data[1][0], 5, 4)
        assert e.value.code == UNAUTH


def test_admin_rpcs_need_the_admin_token(secure_cluster, certs, saved_index):
    with RetrievalClient(secure_cluster.address, token=TOKEN, tls_root_cert=certs[0]) as cl:
        with pytest.raises(RetrievalError) as e:  # the data token is not the admin token
            cl.load_index("other", str(saved_index), secure_cluster.node_addresses)
        assert e.value.code == UNAUTH


def test_plaintext_client_cannot_talk_to_tls_server(secure_cluster, data):
    with RetrievalClient(secure_cluster.address, token=TOKEN, timeout=2) as cl:
        with pytest.raises(RetrievalError) as e:
            cl.search(data[1][:1], 5, 4)
        assert e.value.code == grpc.StatusCode.UNAVAILABLE


def test_health_and_reflection_without_token(secure_cluster, certs):
    creds = grpc.ssl_channel_credentials(certs[0].read_bytes())
    with grpc.secure_channel(secure_cluster.address, creds) as ch:
        st = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service="hwrag.v1.Retrieval"),
                                                   timeout=5)
        assert st.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(ch)
        resp = next(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                              timeout=5))
        names = {s.name for s in resp.list_services_response.service}
        assert {"hwrag.v1.Retrieval", "grpc.health.v1.Health"} <= names


def test_load_and_replace_index_with_admin_token(index, saved_index, data):
    """LoadIndex sends LoadShard to every node (admin on both sides); ReplaceIndex swaps it."""
    xq = data[1][:6]
    ref = search(index, xq, 5, 4).ids
    cfg = CoordinatorConfig(node_admin_token="na")
    sec = Security(admin_token=ADMIN)
    with LocalCluster(index, 2, config=cfg, security=sec, node_security=Security(admin_token="na")) as c:
        with RetrievalClient(c.address, admin_token=ADMIN) as cl:
            info = cl.load_index("copy", str(saved_index), c.node_addresses)
            assert info.nshards == 2 and info.has_payloads and all(n.reachable for n in info.nodes)
            r = cl.search(xq, 5, 4, index="copy", with_payloads=True)
            np.testing.assert_array_equal(r.ids, ref)
            assert r.payloads[1][0] == f"chunk-{r.ids[1, 0]}".encode()
            with pytest.raises(RetrievalError) as e:
                cl.load_index("copy", str(saved_index), c.node_addresses)
            assert e.value.code == grpc.StatusCode.ALREADY_EXISTS
            cl.load_index("copy", str(saved_index), [], replace=True)
            np.testing.assert_array_equal(cl.search(xq, 5, 4, index="copy").ids, ref)
        with RetrievalClient(c.address) as cl:  # no admin token
            with pytest.raises(RetrievalError) as e:
                cl.load_index("x", str(saved_index), c.node_addresses)
            assert e.value.code == UNAUTH


def test_admin_rpcs_disabled_without_any_token(index, saved_index):
    with LocalCluster(index, 1) as c, RetrievalClient(c.address) as cl:
        with pytest.raises(RetrievalError) as e:
            cl.load_index("x", str(saved_index), c.node_addresses)
        assert e.value.code == UNAUTH and "disabled" in e.value.details


def test_plaintext_binds_loopback_only(tmp_path):
    check_bind("127.0.0.1:0", Security())
    check_bind("[::1]:0", Security())
    check_bind("localhost:1234", Security())
    for addr in ("0.0.0.0:0", "[::]:0", "10.1.2.3:50051"):
        with pytest.raises(HwragError, match="without TLS"):
            check_bind(addr, Security())
        check_bind(addr, Security(allow_insecure_remote=True))
    loop = LoopThread()
    try:
        with pytest.raises(HwragError, match="without TLS"):
            loop.run(create_server("0.0.0.0:0", MemoryNode("cpu")))
    finally:
        loop.close()


def _node_calls(stub, pb, index_name):
    """Each MemoryNode RPC once, with a request the node can parse (its answer beyond auth does not matter)."""
    scan = pb.ScanRequest(index=index_name, k=1, nprobe=1)
    return {"Scan": lambda md: stub.Scan(scan, metadata=md, timeout=10),
            "ScanStream": lambda md: list(stub.ScanStream(iter([scan]), metadata=md, timeout=10)),
            "Info": lambda md: stub.Info(pb.NodeInfoRequest(), metadata=md, timeout=10),
            "LoadShard": lambda md: stub.LoadShard(pb.LoadShardRequest(index=index_name), metadata=md, timeout=10)}


@pytest.mark.parametrize("metadata", [None, (("authorization", "Bearer wrong"),),
                                      (("authorization", "Bearer " + TOKEN),)],
                         ids=["no token", "wrong token", "the coordinator's client token"])
def test_every_node_rpc_refused_without_the_node_token(secure_cluster, certs, metadata):
    """A memory node serves nothing without its own token: every RPC of the MemoryNode service answers
    UNAUTHENTICATED to a caller without it (or with the clients' token, which is not the node's); the node's
    data token does not open the admin RPC either."""
    from hwrag_rpc.v1 import memory_node_pb2 as pb
    from hwrag_rpc.v1 import memory_node_pb2_grpc as rpc

    creds = grpc.ssl_channel_credentials(certs[0].read_bytes())
    with grpc.secure_channel(secure_cluster.node_addresses[0], creds) as ch:
        calls = _node_calls(rpc.MemoryNodeStub(ch), pb, "default")
        for name, call in calls.items():
            with pytest.raises(grpc.RpcError) as e:
                call(metadata)
            assert e.value.code() == UNAUTH, (name, e.value.code())
        with pytest.raises(grpc.RpcError) as e:   # the data token is not the admin token
            calls["LoadShard"]((("authorization", "Bearer node-token"),))
        assert e.value.code() == UNAUTH
        info = calls["Info"]((("authorization", "Bearer node-token"),))   # the right token is served
        assert info.nshards == 2


def test_node_refuses_plain_tcp_when_tls_is_configured(secure_cluster):
    from hwrag_rpc.v1 import memory_node_pb2 as pb
    from hwrag_rpc.v1 import memory_node_pb2_grpc as rpc

    with grpc.insecure_channel(secure_cluster.node_addresses[0]) as ch:
        with pytest.raises(grpc.RpcError) as e:
            rpc.MemoryNodeStub(ch).Info(pb.NodeInfoRequest(), metadata=(("authorization", "Bearer node-token"),),
                                        timeout=5)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
