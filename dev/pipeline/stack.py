"""The processes of the local pipeline: an OpenSearch node of its own (so it can be stopped without
touching anyone else's), the enrichment Lambda in `cargo lambda watch`, and firesight processes."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request


def free_port(candidates=None):
    for port in candidates or [0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def get_json(url, headers=None, timeout=10):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as r:
        return json.load(r)


def wait_for(what, check, timeout, process=None, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, ValueError, KeyError):
            pass
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}" + (f"; see {log}" if log else ""))
        time.sleep(0.5)
    raise RuntimeError(f"{what} not ready after {timeout} s" + (f"; see {log}" if log else ""))


def stop(process, grace=20):
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class OpenSearchNode:
    """One OpenSearch 2.19 node from the Maven Central jars (codelibs' OpenSearchRunner)."""

    def __init__(self, work, lib, java_opts="-Xms384m -Xmx512m"):
        self.dir = os.path.join(work, "opensearch")
        self.lib = lib
        self.java_opts = java_opts.split()
        # The runner takes HTTP ports up to 9299 only.
        self.port = free_port(range(9230, 9300))
        self.transport = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = os.path.join(work, "logs", "opensearch.log")
        self.process = None

    def start(self):
        os.makedirs(os.path.join(self.dir, "config"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        with open(os.path.join(self.dir, "config", "opensearch.yml"), "w") as f:
            f.write("network.host: 127.0.0.1\ndiscovery.type: single-node\n"
                    f"transport.port: {self.transport}\ncluster.routing.allocation.disk.threshold_enabled: false\n")
        self.process = subprocess.Popen(
            ["java", *self.java_opts, f"-Djava.io.tmpdir={self.dir}/tmp", "-Dlog4j2.formatMsgNoLookups=true",
             "-cp", f"{self.lib}/*", "org.codelibs.opensearch.runner.OpenSearchRunner",
             "-basePath", f"{self.dir}/cluster", "-confPath", f"{self.dir}/config", "-numOfNode", "1",
             "-baseHttpPort", str(self.port - 1), "-clusterName", "seed-pipeline"],
            stdout=open(self.log, "a"), stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, timeout=240):
        def ready():
            health = get_json(f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=5s", timeout=10)
            return health["status"] in ("yellow", "green")
        wait_for("OpenSearch", ready, timeout, self.process, self.log)

    def stop(self):
        stop(self.process, grace=60)

    def count(self, index):
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/{index}/_refresh", method="POST"), timeout=30).read()
        return get_json(f"{self.url}/{index}/_count", timeout=30)["count"]


class LambdaEmulator:
    """`cargo lambda watch` serving firesight-lambda; the first invocation waits for its build."""

    def __init__(self, repo, cargo_lambda, work, env):
        self.repo, self.cargo_lambda = repo, cargo_lambda
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/2015-03-31/functions/firesight-lambda/invocations"
        self.log = os.path.join(work, "logs", "lambda.log")
        self.env = env
        self.process = None

    def start(self):
        args = [self.cargo_lambda, "lambda", "watch", "--bin", "firesight-lambda", "--ignore-changes",
                "--invoke-address", "127.0.0.1", "--invoke-port", str(self.port)]
        for k, v in self.env.items():
            args += ["--env-var", f"{k}={v}"]
        env = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
        self.process = subprocess.Popen(args, cwd=self.repo, stdout=open(self.log, "a"), stderr=subprocess.STDOUT,
                                        env=env, start_new_session=True)

    def wait(self, timeout=900):
        event = json.dumps({"invocationId": "warm-up", "deliveryStreamArn":
                            "arn:aws:firehose:us-east-1:123456789012:deliverystream/warm-up",
                            "region": "us-east-1", "records": []}).encode()

        def ready():
            request = urllib.request.Request(self.url, data=event, method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=60) as r:
                    return "records" in json.load(r)
            except urllib.error.HTTPError:
                return False
        wait_for("the Lambda emulator", ready, timeout, self.process, self.log)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


class Firesight:
    """One `firesight serve` process."""

    def __init__(self, name, binary, work, env, api_key):
        self.name, self.binary = name, binary
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = os.path.join(work, "logs", f"{name}.log")
        self.data = os.path.join(work, name)
        self.api_key = api_key
        self.env = dict(env)
        self.env.update({"FIRESIGHT_LISTEN": f"127.0.0.1:{self.port}", "FIRESIGHT_DATA_DIR": self.data,
                         "FIRESIGHT_API_KEYS": api_key, "FIRESIGHT_LOG__LEVEL": "info"})
        self.process = None

    def start(self):
        os.makedirs(self.data, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIRESIGHT_") and k != "RUST_LOG"}
        env.update(self.env)
        self.process = subprocess.Popen([self.binary, "serve"], env=env, stdout=open(self.log, "a"),
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, timeout=180):
        def ready():
            try:
                with urllib.request.urlopen(f"{self.url}/health/ready", timeout=5) as r:
                    return r.status == 200
            except urllib.error.HTTPError:
                return False
        wait_for(f"firesight ({self.name})", ready, timeout, self.process, self.log)

    def stop(self):
        stop(self.process, grace=40)

    def get(self, path, timeout=60):
        return get_json(f"{self.url}{path}", {"Authorization": f"Bearer {self.api_key}"}, timeout)

    def export(self, query):
        request = urllib.request.Request(f"{self.url}/v1/logs/export?{query}&format=ndjson",
                                         headers={"Authorization": f"Bearer {self.api_key}"})
        with urllib.request.urlopen(request, timeout=300) as r:
            return [json.loads(line) for line in r.read().decode().splitlines() if line.strip()]
