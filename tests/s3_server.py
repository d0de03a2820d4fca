"""A real S3-compatible server (moto's server mode) as a process of its own, for the object-store tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.live_server import free_port

# Dummy credentials and no AWS configuration of the machine's own: what every process of the S3 tests sees.
# No region either, so the store's default region is what signs.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
S3_ENV_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL")


def s3_process_env(**extra: str) -> dict[str, str]:
    """The environment of a `qie` process that talks to the test S3 server."""
    env = {name: value for name, value in os.environ.items() if name not in S3_ENV_UNSET}
    return {**env, **S3_ENV, **extra}


@dataclass
class S3Server:
    endpoint_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self) -> Any:
        import boto3  # only the object-store tests pay for importing it

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
        )

    def new_bucket(self) -> str:
        name = f"qie-test-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object under `prefix`, read back with boto3 directly (not through the code under test)."""
        client = self.client()
        listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        return {item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listed}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_s3_server(log_dir: Path, timeout: float = 30.0) -> S3Server:
    """moto_server on a free port, once it answers. RuntimeError (with the reason) when it cannot start."""
    moto_server = Path(sys.executable).parent / "moto_server"
    if not moto_server.exists():
        raise RuntimeError(f"{moto_server} is missing (pip install 'moto[server]', part of the dev extra)")
    port = free_port()
    log_path = log_dir / f"moto-{port}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen([moto_server, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    server = S3Server(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(server.endpoint_url, timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"moto_server did not answer on port {port} within {timeout:g} s; see {log_path}")
        time.sleep(0.05)


def closed_port_url() -> str:
    """An endpoint where nothing listens: the object store as an outage sees it."""
    return f"http://127.0.0.1:{free_port()}"
