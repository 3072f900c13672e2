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
    with LocalCluster(index, 2, config=cfg, security=sec, node_security=node_sec, host="localhost") as c:
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
