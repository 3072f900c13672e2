"""The client side loads no server: importing ``llm_client`` (every module) and
``retrieval_service.client`` pulls in no coordinator, memory node, backend, cluster or server code,
so inference can run against a remote service without the server package."""
import subprocess
import sys

SERVER_MODULES = ("retrieval_service.coordinator", "retrieval_service.memory_node", "retrieval_service.backends",
                  "retrieval_service.cluster", "retrieval_service.local", "retrieval_service.server",
                  "retrieval_service.config", "retrieval_service.security", "hwsim")

PROBE = """
import importlib, pkgutil, sys
import llm_client, retrieval_service.client
for m in pkgutil.iter_modules(llm_client.__path__):
    importlib.import_module("llm_client." + m.name)
bad = sorted(n for n in sys.modules if n.startswith(%r))
print("\\n".join(bad))
"""


def test_llm_client_and_client_load_no_server_module():
    out = subprocess.run([sys.executable, "-c", PROBE % (SERVER_MODULES,)], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.split() == [], f"client-side imports loaded server modules: {out.stdout.split()}"


def test_the_probe_sees_server_modules_when_they_are_imported():
    """The probe itself can fail: importing the local cluster does load server modules."""
    probe = PROBE.replace("import llm_client, retrieval_service.client",
                          "import llm_client, retrieval_service.client, retrieval_service.local")
    out = subprocess.run([sys.executable, "-c", probe % (SERVER_MODULES,)], capture_output=True, text=True,
                         check=True, timeout=120)
    assert "retrieval_service.coordinator" in out.stdout.split()
