"""Which webhook URLs the server calls: http(s) only, no private or metadata addresses (after
DNS) unless the project's ``webhooks.url`` policy allows them, and the policy's own keys."""

import re

import pytest

from apps.graphs.config import ProjectError
from apps.webhooks.policy import UrlPolicy, UrlRefused, url_check

DEFAULT = UrlPolicy()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8000/hook", "127.0.0.1, a loopback address"),
        ("http://localhost/hook", "a loopback address"),
        ("http://[::1]/hook", "::1, a loopback address"),
        ("http://[::ffff:127.0.0.1]/hook", "127.0.0.1, a loopback address"),
        ("http://2130706433/hook", "127.0.0.1, a loopback address"),
        ("http://10.1.2.3/hook", "10.1.2.3, a private address"),
        ("http://192.168.0.10/hook", "a private address"),
        ("http://[fd12::1]/hook", "a private address"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254, a cloud metadata address"),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254, a cloud metadata address"),
        ("http://169.254.1.1/hook", "a link-local address"),
        ("http://224.0.0.1/hook", "a multicast address"),
        ("http://0.0.0.0/hook", "0.0.0.0, an unspecified address"),
        ("http://100.64.0.1/hook", "a non-public address"),
        ("ftp://example.com/hook", "must use http or https"),
        ("file:///etc/passwd", "must use http or https"),
        ("/relative/hook", "Relative webhook URLs are not supported"),
        ("http:///no-host", "names no host"),
        ("http://[::1/hook", "Invalid webhook URL"),
    ],
)
def test_unsafe_urls_are_refused_by_default(url, reason):
    with pytest.raises(UrlRefused, match=re.escape(reason)):
        url_check(url, policy=DEFAULT)


def test_a_refusal_says_how_to_allow_a_private_network():
    with pytest.raises(UrlRefused) as refused:
        url_check("http://10.0.0.5/hook", policy=DEFAULT)
    assert "webhooks.url.allowed_networks" in refused.value.detail
    assert refused.value.status_code == 422


def test_an_allowed_network_lets_its_addresses_through():
    policy = UrlPolicy.from_config({"url": {"allowed_networks": ["127.0.0.0/8", "10.0.0.0/8"]}})

    assert url_check("http://127.0.0.1:9000/hook", policy=policy).addresses == ("127.0.0.1",)
    assert url_check("http://localhost:9000/hook", policy=policy).url.host == "localhost"
    assert url_check("http://10.9.8.7/hook", policy=policy).addresses == ("10.9.8.7",)
    with pytest.raises(UrlRefused, match=re.escape("192.168.1.1, a private address")):
        url_check("http://192.168.1.1/hook", policy=policy)


def test_metadata_addresses_are_refused_even_inside_an_allowed_network():
    policy = UrlPolicy.from_config({"url": {"allowed_networks": ["169.254.0.0/16"]}})

    assert url_check("http://169.254.1.1/hook", policy=policy)
    with pytest.raises(UrlRefused, match="cloud metadata"):
        url_check("http://169.254.169.254/", policy=policy)


def test_allowed_domains_match_exactly_or_by_subdomain_wildcard():
    policy = UrlPolicy.from_config(
        {"url": {"allowed_domains": ["hooks.example.com", "*.corp.com"], "allowed_networks": []}}
    )

    assert url_check("https://hooks.example.com/x", policy=policy, resolve=False)
    assert url_check("https://a.b.corp.com/x", policy=policy, resolve=False)
    assert url_check("https://HOOKS.example.com./x", policy=policy, resolve=False)
    for refused in ("https://example.com/x", "https://corp.com/x", "https://evilcorp.com/x"):
        with pytest.raises(UrlRefused, match=re.escape("not in webhooks.url.allowed_domains")):
            url_check(refused, policy=policy, resolve=False)


def test_an_allowed_domain_does_not_make_a_private_address_callable():
    policy = UrlPolicy.from_config({"url": {"allowed_domains": ["localhost"]}})

    with pytest.raises(UrlRefused, match="loopback"):
        url_check("http://localhost/hook", policy=policy)


def test_ports_https_and_length_follow_the_policy():
    policy = UrlPolicy.from_config(
        {"url": {"allowed_ports": [443, 8443], "require_https": True, "max_url_length": 40}}
    )

    assert url_check("https://hooks.example.com/x", policy=policy, resolve=False)
    assert url_check("https://hooks.example.com:8443/x", policy=policy, resolve=False)
    with pytest.raises(
        UrlRefused, match=re.escape("port 8080 is not in webhooks.url.allowed_ports")
    ):
        url_check("https://hooks.example.com:8080/x", policy=policy, resolve=False)
    with pytest.raises(UrlRefused, match="must use https"):
        url_check("http://hooks.example.com:443/x", policy=policy, resolve=False)
    with pytest.raises(UrlRefused, match=re.escape("longer than webhooks.url.max_url_length")):
        url_check("https://hooks.example.com/" + "x" * 40, policy=policy, resolve=False)


def test_a_host_that_does_not_resolve_is_refused():
    with pytest.raises(UrlRefused, match="does not resolve"):
        url_check("http://no-such-host.invalid/hook", policy=DEFAULT)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"url": []}, "'webhooks.url' must be an object"),
        ({"url": {"allowed_networks": ["not-a-cidr"]}}, "allowed_networks"),
        ({"url": {"allowed_ports": ["443"]}}, "allowed_ports"),
        ({"url": {"allowed_domains": "example.com"}}, "allowed_domains"),
        ({"url": {"max_url_length": 0}}, "max_url_length"),
    ],
)
def test_a_malformed_policy_names_its_key(section, message):
    with pytest.raises(ProjectError, match=message):
        UrlPolicy.from_config(section)
