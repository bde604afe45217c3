"""A local certificate authority and the local broker's certificate, for its SASL_SSL listener.

Made once per checkout by `deploy/local/infra.sh up` (into `.local/kafka/tls/`, never committed):
`ca.pem` is what clients verify the broker with (`SIGNAALPUNT_KAFKA_SSL_CAFILE`), `broker.pem` the
broker's PEM keystore (its private key and certificate, for 127.0.0.1 and localhost). Nothing here
is a production certificate: production brokers have their cluster's CA (Strimzi in k8s).

    python deploy/local/kafka_tls.py DIR
"""

from __future__ import annotations

import datetime
import ipaddress
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_FOR = datetime.timedelta(days=825)  # the longest a TLS server certificate is trusted


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Signaalpunt (local development)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make(folder: Path) -> None:
    """The CA and the broker's certificate in `folder`, unless both are there already."""
    ca_file, broker_file = folder / "ca.pem", folder / "broker.pem"
    if ca_file.exists() and broker_file.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Signaalpunt local CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    broker = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    # the broker's keystore: its key (PKCS#8, unencrypted: the file is the broker's own, 0600)
    # followed by its certificate chain
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    broker_file.write_bytes(key_pem + broker.public_bytes(pem) + ca.public_bytes(pem))
    broker_file.chmod(0o600)
    ca_file.write_bytes(ca.public_bytes(pem))  # the CA's key is not kept: it signs nothing more


if __name__ == "__main__":
    make(Path(sys.argv[1]))
