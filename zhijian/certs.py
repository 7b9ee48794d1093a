"""Client certificates as platform credentials: the CA, issuing, and what a certificate says.

A client certificate carries the same three facts as a token: the subject in the common
name (``user:<name>`` or ``svc:<name>``), one organizational unit per role, and the
clearance as a SAN URI ``urn:zhijian:clearance:L2``. Its revocation id is its SHA-256
fingerprint, ``sha256:<hex>``, which ``RevokeToken`` takes like a token's jti.

Operators: ``load_or_create_ca(keys_dir)`` creates the platform CA
(``keys/client-ca.pem``, ``keys/client-ca.key``); ``issue_client_certificate`` and
``issue_server_certificate`` issue from it. Point ``ZHIJIAN_GATEWAY_TLS_CLIENT_CA`` at
``client-ca.pem`` and ``ZHIJIAN_GATEWAY_TLS_CERT`` / ``_KEY`` at a server certificate to
make a gateway's listener mutual TLS.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from zhijian import identity
from zhijian.files import write_file

CA_CERT: Final = "client-ca.pem"
CA_KEY: Final = "client-ca.key"
CLEARANCE_URI_PREFIX: Final = "urn:zhijian:clearance:"
FINGERPRINT_PREFIX: Final = "sha256:"
DEFAULT_CA_DAYS: Final = 3650
DEFAULT_CERT_DAYS: Final = 365


class CertificateError(ValueError):
    """A certificate does not carry a valid zhijian identity."""


@dataclass(frozen=True)
class CertificateAuthority:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class IssuedCertificate:
    cert_pem: bytes
    key_pem: bytes
    fingerprint: str  # "sha256:<hex>", what revocation names

    def write(self, cert_path: Path, key_path: Path) -> None:
        write_file(cert_path, self.cert_pem, mode=0o644)
        write_file(key_path, self.key_pem, mode=0o600)


@dataclass(frozen=True)
class CertificateIdentity:
    """What a verified client certificate says about its holder."""

    subject: str
    roles: frozenset[str]
    clearance: str
    fingerprint: str
    not_after: float  # POSIX seconds


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def fingerprint_of(certificate: x509.Certificate) -> str:
    return FINGERPRINT_PREFIX + certificate.fingerprint(hashes.SHA256()).hex()


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
             days: int) -> x509.CertificateBuilder:
    start = _now() - dt.timedelta(minutes=5)  # clock skew between hosts
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days)))


def create_ca(common_name: str = "zhijian platform CA", *, days: int = DEFAULT_CA_DAYS
              ) -> CertificateAuthority:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        _builder(name, name, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256()))
    return CertificateAuthority(certificate, key)


def load_ca(keys_dir: Path) -> CertificateAuthority:
    certificate = x509.load_pem_x509_certificate((keys_dir / CA_CERT).read_bytes())
    key = serialization.load_pem_private_key((keys_dir / CA_KEY).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"{keys_dir / CA_KEY} is not an EC private key")
    return CertificateAuthority(certificate, key)


def load_or_create_ca(keys_dir: Path) -> CertificateAuthority:
    """The platform CA under ``keys_dir``, created on first use (the key 0600)."""
    identity.private_dir(keys_dir)
    if not (keys_dir / CA_KEY).exists():
        ca = create_ca()
        # Key first and exclusively: of two processes racing, one CA wins and both use it.
        with contextlib.suppress(FileExistsError):
            write_file(keys_dir / CA_KEY, _key_pem(ca.key), mode=0o600, exclusive=True)
            write_file(keys_dir / CA_CERT, ca.cert_pem, mode=0o644)
    # The winner of a race writes the certificate just after the key.
    deadline = time.monotonic() + 5.0
    while not (keys_dir / CA_CERT).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return load_ca(keys_dir)


def _aki(ca: CertificateAuthority) -> x509.AuthorityKeyIdentifier:
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key())


def issue_client_certificate(ca: CertificateAuthority, *, subject: str, roles: Sequence[str],
                             clearance: str, days: int = DEFAULT_CERT_DAYS,
                             public_key: ec.EllipticCurvePublicKey | None = None
                             ) -> IssuedCertificate:
    """A client certificate for ``subject`` with ``roles`` and ``clearance``, checked as
    strictly as a token would be. For a holder's own ``public_key`` (its private key never
    leaves it) ``key_pem`` is empty; otherwise a key pair is made here."""
    checked = identity.check_roles(roles)
    identity.check_subject(subject, checked)
    identity.clearance_to_level(clearance)
    key = ec.generate_private_key(ec.SECP256R1()) if public_key is None else None
    holder = key.public_key() if key is not None else public_key
    assert holder is not None
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject),
                      *(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role)
                        for role in checked)])
    certificate = (
        _builder(name, ca.certificate.subject, holder, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([
            x509.UniformResourceIdentifier(CLEARANCE_URI_PREFIX + clearance)]), critical=False)
        .add_extension(_aki(ca), critical=False)
        .sign(ca.key, hashes.SHA256()))
    return IssuedCertificate(certificate.public_bytes(serialization.Encoding.PEM),
                             _key_pem(key) if key is not None else b"",
                             fingerprint_of(certificate))


def issue_server_certificate(ca: CertificateAuthority, *,
                             hosts: Iterable[str] = ("127.0.0.1", "localhost"),
                             days: int = DEFAULT_CERT_DAYS) -> IssuedCertificate:
    """A listener certificate for ``hosts`` (IP addresses or DNS names)."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    if not names:
        raise CertificateError("a server certificate needs at least one host")
    key = ec.generate_private_key(ec.SECP256R1())
    common_name = next(iter(hosts), "zhijian-gateway")
    certificate = (
        _builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(common_name))]),
                 ca.certificate.subject, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(_aki(ca), critical=False)
        .sign(ca.key, hashes.SHA256()))
    return IssuedCertificate(certificate.public_bytes(serialization.Encoding.PEM),
                             _key_pem(key), fingerprint_of(certificate))


def read_client_certificate(pem: bytes) -> CertificateIdentity:
    """The identity in a client certificate the TLS layer has already verified against
    the platform CA. Anything off (no or several clearances, unknown role, a subject that
    is not user:/svc:) raises :class:`CertificateError`."""
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError as error:
        raise CertificateError("not a PEM certificate") from error
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise CertificateError("a client certificate needs exactly one common name")
    subject = str(names[0].value)
    roles = [str(a.value) for a in
             certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    clearances = [uri.removeprefix(CLEARANCE_URI_PREFIX) for uri in uris
                  if uri.startswith(CLEARANCE_URI_PREFIX)]
    if len(clearances) != 1:
        raise CertificateError("a client certificate needs exactly one clearance URI")
    try:
        checked = identity.check_roles(roles)
        identity.check_subject(subject, checked)
        identity.clearance_to_level(clearances[0])
    except identity.IdentityError as error:
        raise CertificateError(str(error)) from None
    return CertificateIdentity(subject, frozenset(checked), clearances[0],
                               fingerprint_of(certificate),
                               certificate.not_valid_after_utc.timestamp())
