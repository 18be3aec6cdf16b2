"""A LocalStack Lambda runtime executor that runs each invocation as a host process.

LocalStack's community runtime ships only a Docker executor; this machine and CI have no
Docker engine. The executor contract (``RuntimeExecutor``) lets ``invoke`` return the
result directly, so no runtime API server is needed: each invocation starts
``host_lambda_bootstrap`` with the function's environment (credentials, region,
``AWS_ENDPOINT_URL`` pointing back at the engine) and waits for it within the function's
timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from localstack import config
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import RuntimeExecutor

BOOTSTRAP = Path(__file__).with_name("host_lambda_bootstrap.py")
# What the host process keeps of the engine's own environment: enough to start Python.
KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


class HostRuntimeExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id, function_version)
        self.environment: dict[str, str] = {}
        self.logs = ""

    def start(self, env_vars: dict[str, str]) -> None:
        self.environment = {k: str(v) for k, v in env_vars.items()}

    def stop(self) -> None:
        pass

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        # The function runs on this host: the engine's gateway is on loopback.
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        return f"http://127.0.0.1:{config.GATEWAY_LISTEN[0].port}/_localstack_lambda/{self.id}"

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        code = self.function_version.config.code.get_unzipped_code_location()
        env = {k: os.environ[k] for k in KEPT if k in os.environ}
        env.update(self.environment)
        env["_REQUEST_ID"] = request_id
        env["_INVOKED_FUNCTION_ARN"] = payload.get("invoked-function-arn", "")
        timeout = float(self.function_version.config.timeout)
        with tempfile.TemporaryDirectory(prefix="host-lambda-") as scratch:
            result_path = Path(scratch) / "result.json"
            command = [
                sys.executable,
                "-I",
                str(BOOTSTRAP),
                str(code),
                self.function_version.config.handler,
                str(result_path),
            ]
            try:
                run = subprocess.run(
                    command,
                    input=payload["payload"].encode(),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    env=env,
                    timeout=timeout,
                    check=False,
                )
                self.logs = run.stdout.decode(errors="replace")
                outcome = (
                    json.loads(result_path.read_text(encoding="utf-8"))
                    if result_path.exists()
                    else None
                )
            except subprocess.TimeoutExpired as exc:
                self.logs = (exc.stdout or b"").decode(errors="replace")
                outcome = {
                    "error": {
                        "errorMessage": f"Task timed out after {timeout:.2f} seconds",
                        "errorType": "Sandbox.Timedout",
                    }
                }
        if outcome is None:
            outcome = {
                "error": {
                    "errorMessage": f"Runtime exited with status {run.returncode}",
                    "errorType": "Runtime.ExitError",
                }
            }
        if "error" in outcome:
            return InvocationResult(
                request_id, json.dumps(outcome["error"]).encode(), is_error=True, logs=self.logs
            )
        return InvocationResult(
            request_id, json.dumps(outcome["result"]).encode(), is_error=False, logs=self.logs
        )

    def get_logs(self) -> str:
        return self.logs

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass


class HostRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "host"

    def load(self, *args: object, **kwargs: object) -> type[RuntimeExecutor]:
        return HostRuntimeExecutor
