"""Load-balancer collectors against local fake REST servers: GET only, files the adapters read, manifest."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from auditor.cli_exits import ExitCodes
from auditor.model import Model
from auditor.snapshot import Snapshot
from auditor.vendors.lb.collect import (
    COMMANDS,
    PASSWORD_ENV,
    USERNAME_ENV,
    CollectUsageError,
    LbCollectConfig,
    ReadOnlyClient,
    WriteRefused,
    base_url,
    collect_lb,
    device_name,
)
from auditor.vendors.lb.f5 import F5Adapter
from auditor.vendors.lb.kemp import KempAdapter
from auditor.vendors.lb.netscaler import NetScalerAdapter
from tests.fakes.lb_servers import FakeLoadBalancer, Fault

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

FIXTURES = Path(__file__).parent.parent / "fixtures" / "lb"
USER, PASSWORD = "auditor", "s3cret-pass"


def config(vendor: str, url: str, out: Path, **kw: object) -> LbCollectConfig:
    return LbCollectConfig(vendor=vendor, host=url, out=out, username=USER, password=PASSWORD,
                           name=kw.pop("name", "lb1"), timeout=kw.pop("timeout", 5.0), **kw)  # type: ignore[arg-type]


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def no_secret_written(out: Path) -> None:
    for path in out.rglob("*"):
        if path.is_file():
            assert PASSWORD not in path.read_text(), path


def test_f5_collect_then_audit_model(tmp_path: Path) -> None:
    with FakeLoadBalancer("f5", FIXTURES / "f5" / "rest-sticky") as fake:
        result = collect_lb(config("f5", fake.url, tmp_path))
    assert result.exit_code == 0 and not result.failures
    assert {"f5/lb1/ltm/virtual.json", "f5/lb1/ltm/pool.json", "f5/lb1/ltm/persistence/source-addr.json"} \
        <= set(result.files)
    assert result.absent > 0  # resources the fake does not have: recorded as absent, not failed
    assert {method for method, _, _ in fake.requests} == {"GET"}
    assert ("GET", "/mgmt/tm/ltm/virtual", "expandSubcollections=true") in fake.requests
    calls = manifest(tmp_path)["calls"]
    assert all(c["collector"] == "f5" and c["outcome"] in ("ok", "absent") for c in calls)
    no_secret_written(tmp_path)
    model = Model(snapshot=str(tmp_path))
    F5Adapter().load(Snapshot(tmp_path), model)
    (pair,) = model.devices["f5/lb1"].ike_pairs()  # type: ignore[attr-defined]
    assert pair.verdict == "sticky"


def test_f5_follows_next_link_pages(tmp_path: Path) -> None:
    with FakeLoadBalancer("f5", FIXTURES / "f5" / "rest-sticky", page_size=1) as fake:
        collect_lb(config("f5", fake.url, tmp_path))
    body = json.loads((tmp_path / "f5" / "lb1" / "ltm" / "virtual.json").read_text())
    assert [v["name"] for v in body["items"]] == ["vs_ike_500", "vs_ike_4500"] and "nextLink" not in body
    assert any(q.startswith("%24skip=1") or "$skip=1" in q for _, p, q in fake.requests if p == "/mgmt/tm/ltm/virtual")


def test_kemp_collect(tmp_path: Path) -> None:
    with FakeLoadBalancer("kemp", FIXTURES / "kemp" / "sticky-port-following.xml") as fake:
        result = collect_lb(config("kemp", fake.url, tmp_path))
    assert result.exit_code == 0 and result.files == ["kemp/lb1.xml"]
    assert fake.requests == [("GET", "/access/listvs", "")]
    model = Model(snapshot=str(tmp_path))
    KempAdapter().load(Snapshot(tmp_path), model)
    assert model.devices["kemp/lb1"].ike_pairs()[0].verdict == "sticky"  # type: ignore[attr-defined]


def test_netscaler_collect(tmp_path: Path) -> None:
    with FakeLoadBalancer("netscaler", FIXTURES / "netscaler" / "nitro-sticky") as fake:
        result = collect_lb(config("netscaler", fake.url, tmp_path))
    assert result.exit_code == 0
    assert ("GET", "/nitro/v1/config/lbgroup_lbvserver_binding", "bulkbindings=yes") in fake.requests
    no_secret_written(tmp_path)
    model = Model(snapshot=str(tmp_path))
    NetScalerAdapter().load(Snapshot(tmp_path), model)
    assert model.devices["netscaler/lb1"].ike_pairs()[0].verdict == "sticky"  # type: ignore[attr-defined]
    assert model.gaps == []  # resources the device does not have (404) are absent, not missing


def test_wrong_password_fails_with_exit_3_and_a_manifest(tmp_path: Path) -> None:
    with FakeLoadBalancer("f5", FIXTURES / "f5" / "rest-sticky", password="other") as fake:
        result = collect_lb(config("f5", fake.url, tmp_path))
    assert result.exit_code == 3 and result.ok == 0
    assert result.failures[0].status == 401
    assert all(c["outcome"] == "failed" for c in manifest(tmp_path)["calls"])
    assert not (tmp_path / "f5").exists()


def test_server_error_and_timeout_are_recorded(tmp_path: Path) -> None:
    faults = {"/mgmt/tm/ltm/pool": Fault(status=500), "/mgmt/tm/ltm/node": Fault(delay=1.5)}
    with FakeLoadBalancer("f5", FIXTURES / "f5" / "rest-sticky", faults=faults) as fake:
        result = collect_lb(config("f5", fake.url, tmp_path, timeout=0.5))
    by_path = {f.path.split("?")[0]: f for f in result.failures}
    assert by_path["/mgmt/tm/ltm/pool"].status == 500
    assert by_path["/mgmt/tm/ltm/node"].status is None and "Timeout" in by_path["/mgmt/tm/ltm/node"].error
    assert result.exit_code == 3
    assert (tmp_path / "f5" / "lb1" / "ltm" / "virtual.json").is_file()  # the rest is still written
    assert Snapshot(tmp_path).outcome("f5/lb1/ltm/pool.json").outcome == "failed"  # type: ignore[union-attr]


def test_kemp_error_response_is_a_failure(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text('<Response stat="422" code="fail"><Error>Unknown</Error></Response>')
    with FakeLoadBalancer("kemp", bad) as fake:
        result = collect_lb(config("kemp", fake.url, tmp_path / "snap"))
    assert result.exit_code == 3 and "LoadMaster error response" in result.failures[0].error


def test_read_only_client_refuses_writes() -> None:
    client = ReadOnlyClient("http://127.0.0.1:9")
    assert not hasattr(client, "post") and not hasattr(client, "request")
    with FakeLoadBalancer("f5", FIXTURES / "f5" / "rest-sticky") as fake:
        inner = ReadOnlyClient(fake.url)._client  # the guard sits on the transport hook, too
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            with pytest.raises(WriteRefused):
                inner.request(method, "/mgmt/tm/ltm/virtual", json={})
        assert fake.requests == []  # nothing left the process
    client.close()


def _authority(tmp_path: Path, name: str) -> tuple[Path, ssl.SSLContext]:
    """A private CA (its bundle written to a file) and a server context for 127.0.0.1 that it signed, as a load
    balancer's management interface with an in-house certificate has."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def signed(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey,
               ca: bool) -> x509.Certificate:
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                            critical=True).add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        else:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False).add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, host_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = signed(f"{name} CA", ca_key, f"{name} CA", ca_key, ca=True)
    host_cert = signed("127.0.0.1", host_key, f"{name} CA", ca_key, ca=False)
    bundle = tmp_path / f"{name}-ca.pem"
    bundle.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    chain, key = tmp_path / f"{name}-host.pem", tmp_path / f"{name}-host.key"
    chain.write_bytes(host_cert.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(host_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(chain, key)
    return bundle, server


def test_a_ca_bundle_verifies_the_device_and_another_ca_is_refused(tmp_path: Path) -> None:
    bundle, server = _authority(tmp_path, "in-house")
    other, _ = _authority(tmp_path, "other")
    with FakeLoadBalancer("f5", FIXTURES / "f5" / "rest-sticky", tls=server) as fake:
        trusted = collect_lb(config("f5", fake.url, tmp_path / "trusted", verify=str(bundle)))
        assert trusted.exit_code == 0 and not trusted.failures
        assert manifest(tmp_path / "trusted")["runs"][0]["parameters"]["insecure"] is False
        served = len(fake.requests)
        refused = collect_lb(config("f5", fake.url, tmp_path / "refused", verify=str(other)))
        assert refused.exit_code == 3 and refused.failures  # recorded failures, not files
        assert "CERTIFICATE_VERIFY_FAILED" in refused.failures[0].error
        assert len(fake.requests) == served  # no request crossed the unverified connection
        unverified = collect_lb(config("f5", fake.url, tmp_path / "default"))  # the system's CAs: not ours
        assert unverified.exit_code == 3 and "CERTIFICATE_VERIFY_FAILED" in unverified.failures[0].error


def test_base_url_and_name_checks(tmp_path: Path) -> None:
    assert base_url("lb1.example.com") == "https://lb1.example.com"
    assert base_url("http://127.0.0.1:8080/ignored/path") == "http://127.0.0.1:8080"
    for bad in ("ftp://x", "https://user:pw@lb1", "https://"):
        with pytest.raises(CollectUsageError):
            base_url(bad)
    with pytest.raises(CollectUsageError):
        collect_lb(config("f5", "http://127.0.0.1:9", tmp_path, name="x" * 300))
    assert device_name(config("f5", "http://127.0.0.1:9", tmp_path, name="../up")) == "..%2Fup"
    with pytest.raises(CollectUsageError):
        collect_lb(config("haproxy", "http://127.0.0.1:9", tmp_path))


def _app() -> typer.Typer:
    app = typer.Typer(cls=ExitCodes)  # the commands raise; the tool's groups turn errors into exit codes
    for vendor, command in COMMANDS.items():
        app.command(vendor)(command)
    return app


def test_cli_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(USERNAME_ENV, USER)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    runner = CliRunner()
    with FakeLoadBalancer("netscaler", FIXTURES / "netscaler" / "nitro-sticky") as fake:
        ok = runner.invoke(_app(), ["netscaler", "--host", fake.url, "--out", str(tmp_path), "--name", "adc1"])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "netscaler" / "adc1" / "lbvserver.json").is_file()
    monkeypatch.delenv(PASSWORD_ENV)
    missing = runner.invoke(_app(), ["f5", "--host", "http://127.0.0.1:9", "--out", str(tmp_path)])
    assert missing.exit_code == 2 and PASSWORD_ENV in missing.output
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    bad = runner.invoke(_app(), ["kemp", "--host", "ftp://x", "--out", str(tmp_path)])
    assert bad.exit_code == 2


def test_cli_is_mounted_on_collect_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`vpn-auditor collect f5|kemp|netscaler` reach these collectors through the real command line."""
    from auditor.cli import app
    from auditor.cli_collect import collect_app

    names = {c.name: c.callback for c in collect_app.registered_commands}
    assert {vendor: names.get(vendor) for vendor in COMMANDS} == COMMANDS
    monkeypatch.setenv(USERNAME_ENV, USER)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with FakeLoadBalancer("netscaler", FIXTURES / "netscaler" / "nitro-sticky") as fake:
        ok = CliRunner().invoke(app, ["collect", "netscaler", "--host", fake.url, "--out", str(tmp_path),
                                      "--name", "adc1"])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "netscaler" / "adc1" / "lbvserver.json").is_file()


def test_unreachable_host_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    result = collect_lb(config("kemp", "http://127.0.0.1:9", tmp_path, timeout=1.0))
    assert result.exit_code == 3 and result.failures[0].status is None
    assert isinstance(result.failures[0].error, str) and result.failures[0].error
    _ = httpx  # the client library under test
