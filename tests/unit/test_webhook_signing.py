"""The webhook signature, without a network: it verifies, and a changed body, secret or old timestamp does not;
and which URLs a webhook may have."""

from __future__ import annotations

import hashlib
import hmac
from ipaddress import ip_network

import pytest

from telecon.errors import InvalidInput
from telecon.webhooks.services import check_url
from telecon.webhooks.signing import sign, verify

SECRET = b"s3cr3t-of-the-subscription"
BODY = b'{"event":"consultation.booked","id":"1"}'
T = 1_800_000_000


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET, b"1800000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, T, BODY) == f"t={T},v1={expected}"


def test_a_fresh_signature_verifies() -> None:
    assert verify(SECRET, sign(SECRET, T, BODY), BODY, now=T + 10)


def test_a_tampered_body_or_another_secret_fails() -> None:
    header = sign(SECRET, T, BODY)
    assert not verify(SECRET, header, BODY.replace(b"booked", b"cancelled"), now=T)
    assert not verify(b"another secret", header, BODY, now=T)


def test_an_old_or_future_timestamp_fails_as_a_replay() -> None:
    header = sign(SECRET, T, BODY)
    assert verify(SECRET, header, BODY, now=T + 300)
    assert not verify(SECRET, header, BODY, now=T + 301)
    assert not verify(SECRET, header, BODY, now=T - 301)
    assert verify(SECRET, header, BODY, now=T + 3600, tolerance=3600)


def test_a_moved_timestamp_breaks_the_signature() -> None:
    digest = sign(SECRET, T, BODY).split(",v1=")[1]
    assert not verify(SECRET, f"t={T + 60},v1={digest}", BODY, now=T + 60)


def test_malformed_headers_fail() -> None:
    for header in ("", "t=abc,v1=00", f"t={T}", "v1=00", f"t={T},v1=", f"t=-{T},v1=00"):
        assert not verify(SECRET, header, BODY, now=T), header


def test_production_takes_https_urls_only() -> None:
    assert check_url("http://cms.jobcenter.test/hook", https_only=False)
    assert check_url("https://cms.jobcenter.test/hook", https_only=True)
    for url, https_only in (
        ("http://cms.jobcenter.test/hook", True),
        ("https://user:pw@cms.jobcenter.test/hook", True),
        ("https:///hook", True),
        ("javascript:alert(1)", False),
    ):
        with pytest.raises(InvalidInput):
            check_url(url, https_only=https_only)


def test_production_refuses_local_and_private_hosts() -> None:
    for url in (
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://10.0.0.7/hook",
        "https://192.168.1.20/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://printer.local/hook",
    ):
        with pytest.raises(InvalidInput):
            check_url(url, https_only=True)
    assert check_url("https://203.0.113.9.nip.example/hook", https_only=True)
    assert check_url("http://127.0.0.1:9/hook", https_only=False)  # development and the tests' own receivers
    # The operator's own case system, in a network TELECON_ALLOWED_PRIVATE_NETWORKS names.
    assert check_url("https://10.0.0.7/hook", https_only=True, allowed=[ip_network("10.0.0.0/24")])
    with pytest.raises(InvalidInput):
        check_url("https://10.0.1.7/hook", https_only=True, allowed=[ip_network("10.0.0.0/24")])


def test_a_host_httpx_cannot_address_is_refused_at_once() -> None:
    for url in ("https://xn--/hook", "http://xn--/hook"):
        with pytest.raises(InvalidInput):
            check_url(url, https_only=False)
