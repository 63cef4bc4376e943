"""`batchd serve --tls-cert … --tls-key …` serves every API and the console over HTTPS: the
official SDKs on their default protocol (https), the CMQ SDK and the CLI trust a certificate the
test makes; the console's session cookie is then Secure."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from cmq.queue import Message, QueueMeta

from tests.api.console.conftest import sign_in
from tests.cli.conftest import child, clean_env, run
from tests.support import CREDENTIAL, CmqAccounts, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def serving(base: str, cert: Path) -> bool:
    try:
        return httpx.get(f"{base}/healthz", verify=trusting(cert), timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_every_surface_over_https(
    tmp_path: Path, cmq_accounts: CmqAccounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.tdmq.v20200217 import models, tdmq_client

    cert, key = make_certificate(tmp_path)
    port = free_port()
    host, base = f"127.0.0.1:{port}", f"https://127.0.0.1:{port}"
    env = clean_env(
        {
            "BATCHD_APPID": CREDENTIAL.app_id,
            "BATCHD_SECRET_ID": CREDENTIAL.secret_id,
            "BATCHD_SECRET_KEY": CREDENTIAL.secret_key,
        }
    )
    serve_args = [
        *("serve", "--data-dir", str(tmp_path / "data"), "--port", str(port)),
        *("--tls-cert", str(cert), "--tls-key", str(key)),
    ]
    with child(serve_args, env, tmp_path) as serve:
        wait_until(lambda: serve.process.poll() is not None or serving(base, cert), 60, 0.1)
        assert "serving on https://127.0.0.1" in serve.stderr.until("serving on")

        # The official TDMQ client on its default protocol, https.
        profile = ClientProfile(httpProfile=HttpProfile(endpoint=host, certification=str(cert)))
        tdmq = tdmq_client.TdmqClient(
            credential.Credential(CREDENTIAL.secret_id, CREDENTIAL.secret_key),
            "ap-guangzhou",
            profile,
        )
        request = models.CreateCmqQueueRequest()
        request.QueueName = "over-tls"
        assert tdmq.CreateCmqQueue(request).QueueId

        # The CMQ SDK over https, trusting the certificate through OpenSSL's SSL_CERT_FILE.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        account: Any = cmq_accounts(base)
        queue = account.get_queue("over-tls")
        queue.send_message(Message("sealed"))
        assert queue.receive_message(3).msgBody == "sealed"
        account.get_queue("second").create(QueueMeta())

        # The CLI with --ca-cert.
        listed = run(["--ca-cert", str(cert), "queue", "list", "--endpoint", base], env, tmp_path)
        assert listed.code == 0, str(listed)
        assert "over-tls" in listed.stdout
        untrusted = run(["queue", "list", "--endpoint", base], env, tmp_path)
        assert untrusted.code != 0
        assert "certificate" in untrusted.stderr.lower()

        # The console's session cookie is Secure.
        with httpx.Client(base_url=base, verify=trusting(cert)) as browser:
            signed_in = sign_in(browser)
            assert "secure" in signed_in.headers["set-cookie"].lower()
