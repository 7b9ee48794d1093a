"""The platform CA and the client certificates that carry a zhijian identity."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from zhijian import certs, identity


@pytest.fixture(scope="module")
def ca() -> certs.CertificateAuthority:
    return certs.create_ca("test CA")


def test_the_ca_is_created_once_with_a_private_key_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    first = certs.load_or_create_ca(keys)
    again = certs.load_or_create_ca(keys)
    assert first.cert_pem == again.cert_pem
    assert stat.S_IMODE((keys / certs.CA_KEY).stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    constraints = first.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.value.ca and constraints.critical


def test_a_client_certificate_carries_subject_roles_and_clearance(
        ca: certs.CertificateAuthority) -> None:
    issued = certs.issue_client_certificate(ca, subject="user:drug-review-portal",
                                            roles=["business_system", "reviewer"],
                                            clearance="L2")
    certificate = x509.load_pem_x509_certificate(issued.cert_pem)
    certificate.verify_directly_issued_by(ca.certificate)
    names = certificate.subject
    assert names.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == \
        "user:drug-review-portal"
    assert [a.value for a in names.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)] \
        == ["business_system", "reviewer"]
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "urn:zhijian:clearance:L2"]
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert issued.fingerprint == "sha256:" + certificate.fingerprint(hashes.SHA256()).hex()

    read = certs.read_client_certificate(issued.cert_pem)
    assert (read.subject, read.roles, read.clearance, read.fingerprint) == (
        "user:drug-review-portal", frozenset({"business_system", "reviewer"}), "L2",
        issued.fingerprint)
    assert read.not_after > dt.datetime.now(dt.UTC).timestamp() + 300 * 86400


@pytest.mark.parametrize("subject, roles, clearance", [
    ("svc:classify", ["business_system"], "L4"),  # components carry only `service`
    ("user:alice", ["service"], "L4"),  # and humans never do
    ("user:alice", ["wizard"], "L1"),
    ("alice", ["reviewer"], "L1"),
    ("user:alice", ["reviewer"], "L5"),
    ("user:alice", [], "L1"),
])
def test_issuing_checks_the_identity_like_a_token(
        ca: certs.CertificateAuthority, subject: str, roles: list[str], clearance: str) -> None:
    with pytest.raises(identity.IdentityError):
        certs.issue_client_certificate(ca, subject=subject, roles=roles, clearance=clearance)


def test_a_server_certificate_names_its_hosts(ca: certs.CertificateAuthority,
                                              tmp_path: Path) -> None:
    issued = certs.issue_server_certificate(ca, hosts=("127.0.0.1", "localhost"))
    certificate = x509.load_pem_x509_certificate(issued.cert_pem)
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    issued.write(tmp_path / "server.pem", tmp_path / "server.key")
    assert stat.S_IMODE((tmp_path / "server.key").stat().st_mode) == 0o600


def _forged(ca: certs.CertificateAuthority, names: list[x509.NameAttribute],
            uris: list[str]) -> bytes:
    """A CA-signed certificate with whatever fields a careless issuer might write."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(x509.Name(names))
               .issuer_name(ca.certificate.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now)
               .not_valid_after(now + dt.timedelta(days=1)))
    if uris:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.UniformResourceIdentifier(uri) for uri in uris]), critical=False)
    from cryptography.hazmat.primitives import serialization

    return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


CN = NameOID.COMMON_NAME
OU = NameOID.ORGANIZATIONAL_UNIT_NAME


@pytest.mark.parametrize("names, uris", [
    ([(CN, "user:alice"), (OU, "reviewer")], []),  # no clearance
    ([(CN, "user:alice"), (OU, "reviewer")], ["urn:zhijian:clearance:L1",
                                              "urn:zhijian:clearance:L4"]),
    ([(CN, "user:alice"), (OU, "reviewer")], ["urn:zhijian:clearance:top"]),
    ([(CN, "user:alice")], ["urn:zhijian:clearance:L1"]),  # no role
    ([(CN, "user:alice"), (OU, "root")], ["urn:zhijian:clearance:L1"]),
    ([(CN, "alice"), (OU, "reviewer")], ["urn:zhijian:clearance:L1"]),
    ([(OU, "reviewer")], ["urn:zhijian:clearance:L1"]),  # no subject
    ([(CN, "user:alice"), (CN, "user:bob"), (OU, "reviewer")], ["urn:zhijian:clearance:L1"]),
    ([(CN, "svc:gateway-internet"), (OU, "platform_admin")], ["urn:zhijian:clearance:L4"]),
])
def test_a_certificate_without_a_valid_identity_is_refused(
        ca: certs.CertificateAuthority, names: list[tuple[x509.ObjectIdentifier, str]],
        uris: list[str]) -> None:
    pem = _forged(ca, [x509.NameAttribute(oid, value) for oid, value in names], uris)
    with pytest.raises(certs.CertificateError):
        certs.read_client_certificate(pem)


def test_garbage_is_not_a_certificate() -> None:
    with pytest.raises(certs.CertificateError):
        certs.read_client_certificate(b"-----BEGIN CERTIFICATE-----\nAAAA\n")


def test_a_certificate_for_the_holders_own_key_carries_no_private_key() -> None:
    """What the registry issues: the holder sends its public key, the private key never
    leaves it."""
    ca = certs.create_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    issued = certs.issue_client_certificate(ca, subject="svc:batch-import", roles=["service"],
                                            clearance="L4", public_key=key.public_key())
    assert issued.key_pem == b""
    certificate = x509.load_pem_x509_certificate(issued.cert_pem)
    assert certificate.public_key() == key.public_key()
    assert certs.read_client_certificate(issued.cert_pem).fingerprint == issued.fingerprint
