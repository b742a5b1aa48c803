"""Device certificates: issuance from a CSR, verification, every refusal by name, and the
article's verify_device_cert next to the fixed one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from edgekit import _telemetry
from edgekit.errors import CertificateError, InputError, SignatureError
from edgekit.secure import (
    CertificateAuthority,
    TrustStore,
    certificate_pem,
    create_csr,
    generate_key,
    load_certificates,
    load_crl,
    verify_device,
    verify_device_cert,
)
from edgekit.secure._article import article_verify_device_cert
from tests.secure.fleet import NOW, make_fleet


@pytest.fixture(scope="module")
def fleet():
    return make_fleet()


@pytest.fixture(scope="module")
def trust(fleet):
    return TrustStore((fleet.root.certificate,))


def test_device_certificate_from_csr_has_the_right_extensions(fleet, trust):
    cert = fleet.devices["good"].cert
    ext = cert.extensions
    bc = ext.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
    san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "urn:edgekit:device:good"]
    ski = ext.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    site_ski = fleet.site.certificate.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == site_ski.digest
    assert ski.digest == x509.SubjectKeyIdentifier.from_public_key(
        fleet.devices["good"].key.public_key()).digest
    ident = verify_device(fleet.chain("good"), trust)
    assert ident.device_id == "good" and ident.key_type == "ec-p256"
    assert [c.subject for c in ident.chain] == [
        cert.subject, fleet.site.certificate.subject, fleet.root.certificate.subject]


def test_intermediate_known_to_the_trust_store(fleet):
    store = TrustStore((fleet.root.certificate,), intermediates=(fleet.site.certificate,))
    assert verify_device(fleet.devices["good"].cert, store).device_id == "good"
    with pytest.raises(CertificateError) as err:  # leaf alone, intermediate unknown
        verify_device(fleet.devices["good"].cert, fleet.root.certificate)
    assert err.value.reason == "untrusted"


def test_ed25519_device_key_under_an_ecdsa_ca(fleet, trust):
    assert verify_device(fleet.chain("good-ed25519"), trust).key_type == "ed25519"


def test_refused_rogue_ca(fleet, trust):
    with pytest.raises(CertificateError) as err:
        verify_device(fleet.chain("rogue"), trust)
    assert err.value.reason == "untrusted"


def test_refused_expired(fleet, trust):
    with pytest.raises(CertificateError) as err:
        verify_device(fleet.chain("expired"), trust)
    assert err.value.reason == "expired"
    with pytest.raises(CertificateError) as err:  # and a valid one, checked in two years
        verify_device(fleet.chain("good"), trust, at=NOW + timedelta(days=730))
    assert err.value.reason == "expired"


def test_refused_not_yet_valid(fleet, trust):
    with pytest.raises(CertificateError) as err:
        verify_device(fleet.chain("future"), trust)
    assert err.value.reason == "not-yet-valid"
    # the time of validation is honoured: valid in two days
    assert verify_device(fleet.chain("future"), trust, at=NOW + timedelta(days=2)).device_id


def test_refused_without_client_auth(fleet, trust):
    with pytest.raises(CertificateError) as err:
        verify_device(fleet.chain("server-only"), trust)
    assert err.value.reason == "purpose"


def test_refused_without_any_eku(fleet, trust):
    # cryptography's ClientVerifier accepts a leaf without EKU; edgekit does not
    key = generate_key()
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "x")]))
         .issuer_name(fleet.site.certificate.subject).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(NOW - timedelta(hours=1)).not_valid_after(NOW + timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.SubjectAlternativeName(
             [x509.UniformResourceIdentifier("urn:edgekit:device:x")]), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
             fleet.site.private_key.public_key()), critical=False))
    cert = b.sign(fleet.site.private_key, hashes.SHA256())
    with pytest.raises(CertificateError) as err:
        verify_device([cert, fleet.site.certificate], trust)
    assert err.value.reason == "purpose"


def test_refused_revoked(fleet, trust):
    crl = fleet.site.crl([fleet.devices["revoked"].cert])
    store = trust.with_crls(load_crl(crl.public_bytes(serialization.Encoding.PEM)))
    with pytest.raises(CertificateError) as err:
        verify_device(fleet.chain("revoked"), store)
    assert err.value.reason == "revoked"
    assert verify_device(fleet.chain("good"), store).device_id == "good"


def test_refused_when_the_intermediate_is_revoked(fleet, trust):
    store = trust.with_crls(fleet.root.crl([fleet.site.certificate]))
    with pytest.raises(CertificateError) as err:
        verify_device(fleet.chain("good"), store)
    assert err.value.reason == "revoked"


def test_crl_from_a_rogue_ca_is_ignored(fleet, trust):
    rogue_site = fleet.rogue.create_intermediate("site-1")
    forged = rogue_site.crl([fleet.devices["good"].cert])  # same issuer name, wrong key
    assert forged.issuer == fleet.site.certificate.subject
    assert verify_device(fleet.chain("good"), trust.with_crls(forged)).device_id == "good"


def test_require_crl(fleet):
    strict = TrustStore((fleet.root.certificate,), require_crl=True)
    with pytest.raises(CertificateError) as err:
        verify_device(fleet.chain("good"), strict)
    assert err.value.reason == "revoked"
    current = strict.with_crls(fleet.root.crl(), fleet.site.crl())
    assert verify_device(fleet.chain("good"), current).device_id == "good"
    with pytest.raises(CertificateError):  # the CRLs are stale in ten days
        verify_device(fleet.chain("good"), current, at=NOW + timedelta(days=10))


def test_ed25519_ca_is_refused_by_the_verifier_with_a_clear_reason():
    ca = CertificateAuthority.create_root("ed root", key=generate_key("ed25519"))
    cert = ca.issue_device(create_csr(generate_key(), "d"))
    with pytest.raises(CertificateError, match="Ed25519") as err:
        verify_device(cert, ca.certificate)
    assert err.value.reason == "untrusted"


def test_server_certificate(fleet, trust):
    chain = [fleet.server_cert, fleet.site.certificate]
    ident = verify_device(chain, trust, purpose="server", server_name="127.0.0.1")
    assert ident.device_id is None and "localhost" in ident.dns_names
    assert verify_device(chain, trust, purpose="server", server_name="localhost")
    with pytest.raises(CertificateError) as err:
        verify_device(chain, trust, purpose="server", server_name="gateway.example")
    assert err.value.reason == "purpose"
    with pytest.raises(CertificateError) as err:  # a device cannot act as a server
        verify_device(fleet.chain("good"), trust, purpose="server", server_name="localhost")
    assert err.value.reason in ("purpose", "malformed")


def test_csr_with_a_bad_signature_is_refused(fleet):
    der = bytearray(create_csr(generate_key(), "d1").public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature
    csr = x509.load_der_x509_csr(bytes(der))
    with pytest.raises(CertificateError) as err:
        fleet.site.issue_device(csr)
    assert err.value.reason == "signature"


def test_csr_for_another_device_is_refused(fleet):
    with pytest.raises(InputError):
        fleet.site.issue_device(create_csr(generate_key(), "d1"), device_id="d2")
    with pytest.raises(InputError):
        create_csr(generate_key(), "bad id with spaces")


def test_pem_round_trip_and_ca_storage(fleet, tmp_path):
    pem = certificate_pem(fleet.chain("good"))
    assert load_certificates(pem) == fleet.chain("good")
    assert verify_device(pem, fleet.root.certificate).device_id == "good"
    fleet.site.save(tmp_path / "site", password="ca secret")
    back = CertificateAuthority.load(tmp_path / "site", password="ca secret")
    assert back.certificate == fleet.site.certificate and back.chain == fleet.site.chain
    with pytest.raises(CertificateError) as err:
        load_certificates(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    assert err.value.reason == "malformed"


def test_failure_telemetry(fleet, trust):
    events = []
    sink = lambda e, f: events.append((e, f))  # noqa: E731
    _telemetry.add_sink(sink)
    try:
        with pytest.raises(CertificateError):
            verify_device(fleet.chain("rogue"), trust)
    finally:
        _telemetry.remove_sink(sink)
    assert events == [("secure.failure", {"kind": "certificate", "reason": "untrusted"})]


# --- the article's verifier vs the fixed one --------------------------------------------------


def _pss_sign(key, data: bytes) -> bytes:
    return key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                      salt_length=padding.PSS.MAX_LENGTH), hashes.SHA256())


@pytest.mark.parametrize("name, reason", [
    ("rsa-rogue", "untrusted"), ("rsa-expired", "expired"), ("rsa-server-only", "purpose"),
])
def test_article_verifier_accepts_what_edgekit_refuses(fleet, trust, name, reason):
    dev = fleet.devices[name]
    data = "reading: 21.5 C"
    sig = _pss_sign(dev.key, data.encode())
    pem = certificate_pem(fleet.chain(name)).decode()
    assert article_verify_device_cert(pem, sig, data) is True  # the flaw, measured
    with pytest.raises(CertificateError) as err:
        verify_device_cert(pem, sig, data, trust=trust)
    assert err.value.reason == reason


def test_article_verifier_accepts_a_revoked_certificate(fleet, trust):
    dev = fleet.devices["rsa-revoked"]
    sig = _pss_sign(dev.key, b"x")
    pem = certificate_pem(fleet.chain("rsa-revoked")).decode()
    assert article_verify_device_cert(pem, sig, "x") is True
    store = trust.with_crls(fleet.site.crl([dev.cert]))
    with pytest.raises(CertificateError, match="revoked"):
        verify_device_cert(pem, sig, "x", trust=store)


def test_article_verifier_rejects_every_ec_and_ed25519_signature(fleet, trust):
    data = "reading: 21.5 C"
    for name, sign in [
        ("good", lambda k: k.sign(data.encode(), ec.ECDSA(hashes.SHA256()))),
        ("good-ed25519", lambda k: k.sign(data.encode())),
    ]:
        dev = fleet.devices[name]
        sig = sign(dev.key)
        pem = certificate_pem(fleet.chain(name)).decode()
        assert article_verify_device_cert(pem, sig, data) is False  # valid, yet refused
        assert verify_device_cert(pem, sig, data, trust=trust).device_id == name


def test_fixed_verifier_checks_the_signature(fleet, trust):
    dev = fleet.devices["rsa-good"]
    pem = certificate_pem(fleet.chain("rsa-good"))
    sig = _pss_sign(dev.key, b"reading: 21.5 C")
    assert verify_device_cert(pem, sig, b"reading: 21.5 C", trust=trust).device_id == "rsa-good"
    with pytest.raises(SignatureError):
        verify_device_cert(pem, sig, b"reading: 99.9 C", trust=trust)
    # a valid signature by another key, with this certificate
    other = _pss_sign(fleet.devices["rsa-good"].key, b"x")
    with pytest.raises(SignatureError):
        verify_device_cert(certificate_pem(fleet.chain("good")), other, b"x", trust=trust)


def test_leaf_validity_is_capped_by_the_issuer():
    ca = CertificateAuthority.create_root("short-lived root", valid_days=30)
    cert = ca.issue_device(create_csr(generate_key(), "d"), valid_days=365)
    assert cert.not_valid_after_utc <= ca.certificate.not_valid_after_utc


def test_trust_store_from_a_pem_path_text_or_bytes(fleet, tmp_path):
    pem = certificate_pem(fleet.root.certificate)
    path = tmp_path / "roots.pem"
    path.write_bytes(pem)
    for source in (path, str(path), pem):
        assert TrustStore.of(source).roots == (fleet.root.certificate,)
