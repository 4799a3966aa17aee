#!/usr/bin/env python3
"""A real local Kubernetes control plane for tests and the demo.

    python tools/localcluster.py up|down|status|kubeconfig
    python tools/localcluster.py restart-apiserver [SECONDS_DOWN]

etcd, kube-apiserver, kube-controller-manager and kube-scheduler (built by
k8s_build.py) run on this machine with generated certificates; kwok simulates
the nodes and pod status (no container runtime). A network namespace
`mre-net` is this cluster's private network: pod IPs (10.213.64.0/18) and the
node IP (10.213.0.2) live there, so the API server's service/pod proxy and
`kubectl logs` reach real sockets on this machine (the health server and kwok's
kubelet endpoint) and nothing else. Logs and state go to the run directory
(MRE_RUN_DIR, default <repo>/run/cluster). `restart-apiserver` stops
kube-apiserver alone (etcd and everything else keep running), keeps it down
for a while and starts it again on the same port, as a control-plane blip does.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tools import k8s_build

REPO = Path(__file__).resolve().parents[1]
RUN_DIR = Path(os.environ.get("MRE_RUN_DIR", REPO / "run" / "cluster"))
# MRE_NET_INDEX (0-9) gives one machine several local clusters, each with its own network namespace and
# 10.<213+index>.0.0/16 range (index 0: mre-net, 10.213.0.0/16); the local inventory follows the same variable.
NET_INDEX = int(os.environ.get("MRE_NET_INDEX", "0") or 0)
if not 0 <= NET_INDEX <= 9:
    raise SystemExit(f"MRE_NET_INDEX must be 0-9, not {NET_INDEX}")
_SUFFIX = str(NET_INDEX) if NET_INDEX else ""
_NET = f"10.{213 + NET_INDEX}"
NETNS = f"mre-net{_SUFFIX}"
HOST_IF, NS_IF = f"mre{_SUFFIX}-h0", f"mre{_SUFFIX}-h1"
HOST_IP, NS_IP = f"{_NET}.0.1", f"{_NET}.0.2"
POD_CIDR = f"{_NET}.64.0/18"  # 16k pod IPs
PRIVATE_NET = f"{_NET}.0.0/16"  # every address of this cluster: routed into the namespace, never out
SERVICE_CIDR = f"{_NET}.128.0/20"
NODE_COUNT = int(os.environ.get("MRE_NODES", "4"))
HEALTH_PORTS = (80, 3000, 8080, 9090, 9091)
NODE_RESOURCES = {"cpu": "32", "memory": "128Gi", "pods": "2000", "ephemeral-storage": "500Gi"}
STATE = RUN_DIR / "state.json"


def log(msg: str) -> None:
    print(f"[cluster {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- certificates --------------------------------------------------------------
def _certs(pki: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    if (pki / "done").exists():
        return
    pki.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def write_key(name, key):
        (pki / f"{name}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        os.chmod(pki / f"{name}.key", 0o600)

    def issue(name, cn, org=None, sans=(), ca=None, is_ca=False):
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
        if org:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
        subject = x509.Name(attrs)
        issuer_name, issuer_key = (ca[0].subject, ca[1]) if ca else (subject, key)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=365))
                   .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True))
        if sans:
            alt = [x509.IPAddress(ipaddress.ip_address(s)) if s[0].isdigit() else x509.DNSName(s) for s in sans]
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        cert = builder.sign(issuer_key, hashes.SHA256())
        (pki / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        write_key(name, key)
        return cert, key

    ca = issue("ca", "mataresit-local-ca", is_ca=True)
    first_service_ip = str(next(ipaddress.ip_network(SERVICE_CIDR).hosts()))
    issue("apiserver", "kube-apiserver", sans=("127.0.0.1", HOST_IP, first_service_ip, "localhost", "kubernetes",
                                               "kubernetes.default", "kubernetes.default.svc",
                                               "kubernetes.default.svc.cluster.local"), ca=ca)
    issue("admin", "admin", org="system:masters", ca=ca)
    issue("kwok", "kwok-kubelet", sans=(NS_IP, "localhost"), ca=ca)
    sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_key("sa", sa)
    (pki / "sa.pub").write_bytes(sa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (pki / "done").write_text("ok")


def _kubeconfig(path: Path, server: str, pki: Path) -> None:
    import base64

    def b64(name):
        return base64.b64encode((pki / name).read_bytes()).decode()

    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "mataresit-local",
        "clusters": [{"name": "mataresit-local", "cluster": {"server": server, "certificate-authority-data": b64("ca.crt")}}],
        "users": [{"name": "admin", "user": {"client-certificate-data": b64("admin.crt"), "client-key-data": b64("admin.key")}}],
        "contexts": [{"name": "mataresit-local", "context": {"cluster": "mataresit-local", "user": "admin"}}],
    }
    path.write_text(json.dumps(config, indent=2))
    os.chmod(path, 0o600)


# -- network namespace ---------------------------------------------------------
def _sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"Failed to set up the cluster network: `{' '.join(cmd)}` said: {proc.stderr.strip()}. "
                         "The local cluster needs root and iproute2; with a cluster of your own, set KUBECONFIG instead.")
    return proc


def _network_down() -> None:
    _sh("ip", "route", "del", POD_CIDR, check=False)
    _sh("ip", "route", "del", PRIVATE_NET, check=False)
    _sh("ip", "link", "del", HOST_IF, check=False)
    _sh("ip", "netns", "del", NETNS, check=False)


def _network_up() -> None:
    if shutil.which("ip") is None:
        raise SystemExit("Failed to set up the cluster network: the `ip` command (iproute2) is missing; "
                         "install it (apt-get install iproute2) or set KUBECONFIG to a cluster of your own.")
    _network_down()
    _sh("ip", "netns", "add", NETNS)
    _sh("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF)
    _sh("ip", "link", "set", NS_IF, "netns", NETNS)
    _sh("ip", "addr", "add", f"{HOST_IP}/30", "dev", HOST_IF)
    _sh("ip", "link", "set", HOST_IF, "up")
    _sh("ip", "netns", "exec", NETNS, "ip", "addr", "add", f"{NS_IP}/30", "dev", NS_IF)
    _sh("ip", "netns", "exec", NETNS, "ip", "link", "set", NS_IF, "up")
    _sh("ip", "netns", "exec", NETNS, "ip", "link", "set", "lo", "up")
    # Every pod IP is local inside the namespace, where the health server answers.
    _sh("ip", "netns", "exec", NETNS, "ip", "route", "add", "local", POD_CIDR, "dev", "lo")
    _sh("ip", "route", "add", POD_CIDR, "via", NS_IP)
    # Safety net: any other address of the cluster's range (service IPs, a pod IP outside the pool) goes
    # into the namespace too, where nothing routes it further, so no packet for it leaves the machine.
    _sh("ip", "route", "add", PRIVATE_NET, "via", NS_IP)


# -- processes -----------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(name: str, cmd: list, netns: bool = False) -> int:
    logs = RUN_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if netns:
        cmd = ["ip", "netns", "exec", NETNS, *cmd]
    out = open(logs / f"{name}.log", "ab")
    proc = subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    return proc.pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    with contextlib.suppress(OSError):
        if "zombie" in Path(f"/proc/{pid}/status").read_text().lower():
            return False
    return True


def _wait(what: str, check, timeout: float = 90.0, pids: dict | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        for name, pid in (pids or {}).items():
            if not _alive(pid):
                tail = (RUN_DIR / "logs" / f"{name}.log").read_text(errors="replace")[-2000:]
                raise SystemExit(f"Failed to start the cluster: {name} exited while waiting for {what}:\n{tail}")
        time.sleep(0.3)
    raise SystemExit(f"Failed to start the cluster: {what} not ready within {timeout:.0f}s (logs in {RUN_DIR / 'logs'})")


def _https_ok(url: str, pki: Path) -> bool:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=3) as resp:
            return resp.status == 200
    except OSError:
        return False


def _api(state: dict):
    from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import K8sClient

    return K8sClient.from_params({"kubeconfig": state["kubeconfig"]})


def _create_nodes(client) -> None:
    from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConflictError

    for i in range(NODE_COUNT):
        node = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": f"kwok-node-{i}", "annotations": {"kwok.x-k8s.io/node": "fake"},
                         "labels": {"type": "kwok", "kubernetes.io/hostname": f"kwok-node-{i}",
                                    "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                                    "topology.kubernetes.io/zone": f"local-{i % 2}"}},
            "spec": {},
            "status": {"allocatable": NODE_RESOURCES, "capacity": NODE_RESOURCES},
        }
        with contextlib.suppress(ConflictError):
            client.create("/api/v1/nodes", node)
        client.patch(f"/api/v1/nodes/{node['metadata']['name']}/status", {"status": node["status"]})


def _kwok_config(path: Path, pki: Path) -> None:
    stages = (Path(__file__).parent / "kwok-stages.yaml").read_text()
    logs_dir = RUN_DIR / "container-logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    lines = {
        "app": ["INFO  server listening on :3000", "INFO  connected to supabase", "INFO  GET /health 200 2ms",
                "WARN  slow query receipts.list 812ms", "INFO  GET /ready 200 1ms"],
        "worker": ["INFO  embedding worker started", "INFO  polling queue embedding every 5s",
                   "INFO  job 4411 embedded 12 chunks in 1.8s"],
        "generic": ["INFO  started"],
    }
    for name, content in lines.items():
        # CRI log format, as a kubelet stores container logs, stamped just before this start so that
        # `logs --since=1h` (the runbook's forensics window) finds them.
        start = time.time() - len(content)
        (logs_dir / f"{name}.log").write_text("".join(
            f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(start + i))}.000000000Z stdout F {line}\n"
            for i, line in enumerate(content)))
    options = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1", "kind": "KwokConfiguration",
        "options": {"cidr": POD_CIDR, "nodeIP": NS_IP, "nodePort": 10250, "serverAddress": "0.0.0.0:10250",
                    "tlsCertFile": str(pki / "kwok.crt"), "tlsPrivateKeyFile": str(pki / "kwok.key"),
                    "manageAllNodes": False, "manageNodesWithAnnotationSelector": "kwok.x-k8s.io/node=fake",
                    "nodeLeaseDurationSeconds": 40, "nodeLeaseParallelism": 4,
                    "podPlayStageParallelism": 8, "nodePlayStageParallelism": 4, "enableDebuggingHandlers": True},
    }
    cluster_logs = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterLogs", "metadata": {"name": "logs"},
        "spec": {"selector": {}, "logs": [
            {"containers": ["paperless-maverick"], "logsFile": str(logs_dir / "app.log")},
            {"containers": ["embedding-worker"], "logsFile": str(logs_dir / "worker.log")},
            {"logsFile": str(logs_dir / "generic.log")},
        ]},
    }
    path.write_text("\n---\n".join([json.dumps(options), json.dumps(cluster_logs), stages]))


def up() -> dict:
    """Start everything (idempotent); return the state dict."""
    state = read_state()
    if state and all(_alive(pid) for pid in state["pids"].values()):
        return state
    if state:
        down(quiet=True)
    bins = k8s_build.build()
    started = time.monotonic()
    for sub in ("etcd", "logs"):
        shutil.rmtree(RUN_DIR / sub, ignore_errors=True)
    pki = RUN_DIR / "pki"
    _certs(pki)
    _network_up()
    etcd_port, peer_port, api_port = _free_port(), _free_port(), _free_port()
    state = {"pids": {}, "api_port": api_port, "kubeconfig": str(RUN_DIR / "kubeconfig"),
             "kubeconfig_netns": str(RUN_DIR / "kubeconfig.netns"), "run_dir": str(RUN_DIR)}
    _kubeconfig(RUN_DIR / "kubeconfig", f"https://127.0.0.1:{api_port}", pki)
    _kubeconfig(RUN_DIR / "kubeconfig.netns", f"https://{HOST_IP}:{api_port}", pki)
    pids = state["pids"]
    pids["etcd"] = _start("etcd", [
        bins / "etcd", "--name=local", f"--data-dir={RUN_DIR / 'etcd'}",
        f"--listen-client-urls=http://127.0.0.1:{etcd_port}", f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
        f"--listen-peer-urls=http://127.0.0.1:{peer_port}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
        f"--initial-cluster=local=http://127.0.0.1:{peer_port}", "--unsafe-no-fsync", "--log-level=warn",
        "--quota-backend-bytes=4294967296",
    ])
    write_state(state)
    _wait("etcd", lambda: _http_ok(f"http://127.0.0.1:{etcd_port}/health"), pids=pids)
    state["apiserver_cmd"] = [str(c) for c in [
        bins / "kube-apiserver", f"--etcd-servers=http://127.0.0.1:{etcd_port}", f"--secure-port={api_port}",
        "--bind-address=0.0.0.0", f"--advertise-address={HOST_IP}",
        f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}", f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-cluster-ip-range={SERVICE_CIDR}", "--authorization-mode=Node,RBAC", "--allow-privileged=true",
        f"--kubelet-client-certificate={pki / 'admin.crt'}", f"--kubelet-client-key={pki / 'admin.key'}",
        f"--kubelet-certificate-authority={pki / 'ca.crt'}", "--kubelet-preferred-address-types=InternalIP",
        "--enable-priority-and-fairness=false", "--profiling=false", "--v=1",
    ]]
    pids["kube-apiserver"] = _start("kube-apiserver", state["apiserver_cmd"])
    write_state(state)
    _wait("kube-apiserver /readyz", lambda: _https_ok(f"https://127.0.0.1:{api_port}/readyz", pki), timeout=120, pids=pids)
    kubeconfig = RUN_DIR / "kubeconfig"
    pids["kube-controller-manager"] = _start("kube-controller-manager", [
        bins / "kube-controller-manager", f"--kubeconfig={kubeconfig}", "--leader-elect=false",
        f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
        "--use-service-account-credentials=false", "--secure-port=0", "--controllers=*,-nodeipam",
        "--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10", "--kube-api-qps=200",
        "--kube-api-burst=400", "--node-monitor-grace-period=40s", "--v=1",
    ])
    pids["kube-scheduler"] = _start("kube-scheduler", [
        bins / "kube-scheduler", f"--kubeconfig={kubeconfig}", "--leader-elect=false", "--secure-port=0",
        "--kube-api-qps=200", "--kube-api-burst=400", "--v=1",
    ])
    kwok_config = RUN_DIR / "kwok.yaml"
    _kwok_config(kwok_config, pki)
    pids["kwok"] = _start("kwok", [
        bins / "kwok", f"--kubeconfig={RUN_DIR / 'kubeconfig.netns'}", f"--config={kwok_config}",
    ], netns=True)
    write_state(state)
    client = _api(state)
    _create_nodes(client)
    _wait("kwok nodes Ready", lambda: _nodes_ready(client) >= NODE_COUNT, timeout=90, pids=pids)
    _wait("default service account", lambda: client.get_or_none("/api/v1/namespaces/default/serviceaccounts/default") is not None,
          timeout=60, pids=pids)
    pids["health-server"] = _start("health-server", [
        sys.executable, REPO / "tools" / "health_server.py", "--kubeconfig", RUN_DIR / "kubeconfig.netns",
        "--ports", ",".join(map(str, HEALTH_PORTS)), "--pod-cidr", POD_CIDR,
    ], netns=True)
    state["health_url"] = f"http://{NS_IP}:80"
    write_state(state)
    _wait("health server", lambda: _http_ok(state["health_url"] + "/control/ping"), timeout=30, pids=pids)
    from tools import health_server

    health_server.register_service(client, NS_IP)
    state["health_service"] = {"namespace": "mataresit-system", "name": "health-server", "port": 80}
    state["started_seconds"] = round(time.monotonic() - started, 1)
    write_state(state)
    client.close()
    log(f"cluster up in {state['started_seconds']}s: KUBECONFIG={state['kubeconfig']}")
    return state


def restart_apiserver(down_seconds: float = 5.0) -> dict:
    """Stop kube-apiserver alone (etcd kept), wait down_seconds, start it again on the same port and wait
    until it is ready; return {"down_seconds": how long it did not answer}."""
    state = read_state()
    if not state or "apiserver_cmd" not in state:
        raise SystemExit("Failed to restart the API server: no local cluster is running (or it was started "
                         "by an older version of this tool); run `make cluster-down cluster-up` first.")
    pki = RUN_DIR / "pki"
    ready = f"https://127.0.0.1:{state['api_port']}/readyz"
    old = state["pids"]["kube-apiserver"]
    stopped = time.monotonic()
    with contextlib.suppress(OSError):
        os.killpg(old, signal.SIGKILL)
    while _alive(old):
        time.sleep(0.05)
    log(f"kube-apiserver stopped; starting it again in {down_seconds:g}s")
    time.sleep(max(0.0, down_seconds - (time.monotonic() - stopped)))
    state["pids"]["kube-apiserver"] = _start("kube-apiserver", state["apiserver_cmd"])
    write_state(state)
    _wait("kube-apiserver /readyz", lambda: _https_ok(ready, pki), timeout=120,
          pids={"kube-apiserver": state["pids"]["kube-apiserver"]})
    down = round(time.monotonic() - stopped, 1)
    log(f"kube-apiserver back after {down}s")
    return {"down_seconds": down}


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def _nodes_ready(client) -> int:
    nodes = client.list("/api/v1/nodes")
    return sum(1 for n in nodes for c in n.get("status", {}).get("conditions", [])
               if c["type"] == "Ready" and c["status"] == "True")


def read_state() -> dict | None:
    try:
        return json.loads(STATE.read_text())
    except (OSError, ValueError):
        return None


def write_state(state: dict) -> None:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps(state, indent=2))


def down(quiet: bool = False) -> None:
    from tools import monitoring  # Prometheus, Alertmanager and the rulebook run on this cluster: they stop first

    monitoring.down(quiet=quiet)
    state = read_state() or {"pids": {}}
    for name, pid in reversed(list(state["pids"].items())):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(p) for p in state["pids"].values()):
        time.sleep(0.2)
    for pid in state["pids"].values():
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    _network_down()
    with contextlib.suppress(OSError):
        STATE.unlink()
    if not quiet:
        log("cluster stopped")


@contextlib.contextmanager
def _lock():
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with open(RUN_DIR / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_up() -> dict:
    """Bring the cluster up once, safely from several processes; return its state."""
    with _lock():
        return up()


def status() -> int:
    state = read_state()
    if not state:
        print("down")
        return 1
    for name, pid in state["pids"].items():
        print(f"{name:24} pid {pid:<8} {'running' if _alive(pid) else 'DEAD'}")
    print(f"kubeconfig               {state['kubeconfig']}")
    print(f"health                   {state.get('health_url', '-')}")
    ok = all(_alive(p) for p in state["pids"].values())
    return 0 if ok else 1


def main(argv: list) -> int:
    cmd = argv[1] if len(argv) > 1 else "status"
    if cmd == "up":
        print(ensure_up()["kubeconfig"])
        return 0
    if cmd == "down":
        with _lock():
            down()
        return 0
    if cmd == "status":
        return status()
    if cmd == "kubeconfig":
        print(RUN_DIR / "kubeconfig")
        return 0
    if cmd == "restart-apiserver":
        with _lock():
            print(json.dumps(restart_apiserver(float(argv[2]) if len(argv) > 2 else 5.0)))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
