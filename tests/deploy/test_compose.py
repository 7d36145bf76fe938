"""docker-compose.yml and deploy/Dockerfile, checked without Docker.

No Docker engine runs here, so the cluster is never started from these
files; deploy/cluster.sh runs the same topology as local processes and the
other suites test that. What these tests hold the files to: docker-compose
accepts them (`docker-compose config`, which also resolves the anchors and
merges), they describe the same topology as cluster.sh, every
long-running service has a healthcheck and starts after what it needs,
cairnd can be scaled, every CAIRN_* variable is a real setting, the Kafka
image is the version the scripts fetch, and the image installs the
libraries `make deps` does.
"""
import http.server
import os
import re
import socket
import subprocess
import threading

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LONG_RUNNING = ("kafka", "redis", "cairnd", "timers-1", "timers-2", "worker")
CAIRN_SERVICES = ("cairnd", "timers-1", "timers-2", "worker")


def read(*path):
    with open(os.path.join(ROOT, *path)) as f:
        return f.read()


@pytest.fixture(scope="module")
def compose():
    p = subprocess.run(["docker-compose", "-f", "docker-compose.yml",
                        "--profile", "demo", "config"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    # A "$x" meant for the container's shell must be written "$$x".
    assert "is not set" not in p.stderr, p.stderr
    return yaml.safe_load(p.stdout)["services"]


def test_services(compose):
    assert set(compose) == set(LONG_RUNNING) | {"demo"}, sorted(compose)
    assert compose["demo"]["profiles"] == ["demo"]


def test_same_topology_as_cluster_sh(compose):
    """deploy/cluster.sh up (what make run and the suites start) runs the
    same pieces by default: two cairn-timers, one demo worker, the same
    partition count (cairnd: 3 there, --scale cairnd=3 here)."""
    m = re.search(r"local nodes=(\d+) kafka=single timers=(\d+) "
                  r"workers=(\d+) partitions=(\d+)",
                  read("deploy", "cluster.sh"))
    assert m, "cluster.sh's defaults line changed: update this test"
    timers, workers, partitions = (int(g) for g in m.groups()[1:])
    assert len([s for s in compose if s.startswith("timers-")]) == timers
    assert len([s for s in compose if s == "worker"]) == workers
    for name in CAIRN_SERVICES:
        assert int(compose[name]["environment"]["CAIRN_PARTITIONS"]) == \
            partitions, name


def test_kafka_image_is_the_pinned_version(compose):
    version = re.search(r"^KAFKA_VERSION=(\S+)$", read("deploy", "lib.sh"),
                        re.M).group(1)
    assert compose["kafka"]["image"] == f"apache/kafka:{version}"
    env = compose["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_healthcheck(compose, name):
    hc = compose[name].get("healthcheck")
    assert hc and hc.get("test"), f"{name} has no healthcheck"


def test_cairn_healthcheck_asks_healthz(compose):
    for name in CAIRN_SERVICES:
        test = " ".join(compose[name]["healthcheck"]["test"])
        assert "/healthz" in test and "9464" in test, (name, test)
        env = compose[name]["environment"]
        assert str(env.get("CAIRN_METRICS_PORT")) == "9464", name


class Health(http.server.BaseHTTPRequestHandler):
    """GET /healthz answers with the class's status, as cairnd's does."""
    status = 200

    def do_GET(self):
        code = Health.status if self.path == "/healthz" else 404
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"ok\n" if code == 200 else b"no\n")

    def log_message(self, *args):
        pass


def test_cairn_healthcheck_runs(compose):
    """The healthcheck command itself, as the container's bash runs it
    (config prints "$" as "$$"), against a local /healthz: healthy on
    200, unhealthy on 503 and with nothing listening."""
    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    port = server.server_address[1]
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        test = compose["cairnd"]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "bash", "-c"], test
        cmd = test[3].replace("$$", "$").replace("9464", str(port))

        def run(c):
            return subprocess.run(["bash", "-c", c], capture_output=True,
                                  timeout=30).returncode
        Health.status = 200
        assert run(cmd) == 0
        Health.status = 503
        assert run(cmd) != 0
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    assert run(cmd.replace(str(port), str(closed))) != 0


def conditions(service):
    return {k: v["condition"]
            for k, v in service.get("depends_on", {}).items()}


def test_dependency_order(compose):
    for name in ("cairnd", "timers-1", "timers-2"):
        assert conditions(compose[name]) == {"kafka": "service_healthy",
                                             "redis": "service_healthy"}, name
    assert conditions(compose["worker"]) == {"kafka": "service_healthy"}
    demo = conditions(compose["demo"])
    assert all(demo.get(s) == "service_healthy"
               for s in ("cairnd", "worker", "timers-1")), demo


def test_cairnd_scales(compose):
    """--scale cairnd=N: no fixed name or host name (node.id, the static
    group member id, defaults to the container's host name, unique per
    replica) and no published port."""
    c = compose["cairnd"]
    for key in ("container_name", "hostname", "ports"):
        assert key not in c, f"cairnd sets {key}: it could not scale"
    assert "CAIRN_NODE_ID" not in c["environment"]
    assert "Empty = the host name" in config_rows()["node.id"]


def config_rows():
    """setting -> the whole row of docs/CONFIGURATION.md's table."""
    rows = {}
    for line in read("docs", "CONFIGURATION.md").splitlines():
        m = re.match(r"^\| `([a-z0-9.]+)` \| `(CAIRN_[A-Z0-9_]+)` \|", line)
        if m:
            rows[m.group(1)] = line
    return rows


def test_environment_names_real_settings(compose):
    known = {re.search(r"`(CAIRN_[A-Z0-9_]+)`", row).group(1)
             for row in config_rows().values()}
    assert len(known) > 20, "the configuration table was not read"
    for name, service in compose.items():
        for var in service.get("environment", {}):
            if var.startswith("CAIRN_"):
                assert var in known, f"{name}: {var} is no setting"


def apt_installs(stage):
    """The packages of the apt-get install lines of one Dockerfile stage."""
    pkgs = set()
    text = stage.replace("\\\n", " ")
    for m in re.finditer(r"apt-get install ([^&\n]*)", text):
        pkgs |= {w for w in m.group(1).split() if not w.startswith("-")}
    return pkgs


def test_dockerfile_installs_what_make_deps_does():
    stages = re.split(r"^FROM ", read("deploy", "Dockerfile"), flags=re.M)[1:]
    assert [s.split()[0] for s in stages] == ["debian:bookworm-slim"] * 2
    assert re.match(r"debian:bookworm-slim AS build", stages[0])
    deps = read("deploy", "deps.sh")
    block = re.search(r"PACKAGES=\(\n(.*?)\n\)", deps, re.S).group(1)
    build = re.search(r"# build\n(.*?)# ", block, re.S).group(1).split()
    # The image builds; the test tools (cmocka, clang's sanitizers) stay out.
    wanted = {p for p in build
              if p not in ("libcmocka-dev", "clang", "libclang-rt-14-dev")}
    assert wanted - apt_installs(stages[0]) == set()
    runtime = apt_installs(stages[1])
    for dev in wanted:
        if dev.endswith("-dev"):
            lib = dev[:-len("-dev")]
            assert any(p.startswith(lib) for p in runtime), \
                f"the runtime stage has no package for {dev}"
