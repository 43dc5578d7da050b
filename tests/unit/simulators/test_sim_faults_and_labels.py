"""Fault queues, Hetzner label selectors and Cloudflare record rules, without a server."""

from __future__ import annotations

import pytest

from vmkit_local.simulators.cloudflare.errors import CloudflareError
from vmkit_local.simulators.cloudflare.records import clash, qualified_name, validated
from vmkit_local.simulators.faults import FaultInjector
from vmkit_local.simulators.hetzner.errors import HetznerError
from vmkit_local.simulators.hetzner.labels import parse_selector, validate_labels


def test_a_fault_is_used_the_given_number_of_times_on_matching_calls_only():
    faults = FaultInjector()
    faults.inject("/servers/*", 503, times=2, method="get")

    assert faults.take("POST", "/servers/1") is None
    assert faults.take("GET", "/ssh_keys") is None
    assert faults.take("GET", "/servers/1").status == 503
    assert faults.take("GET", "/servers/2").status == 503
    assert faults.take("GET", "/servers/3") is None
    assert faults.pending() == []


def test_faults_are_served_in_the_order_they_were_injected():
    faults = FaultInjector()
    faults.inject("/zones", 429)
    faults.inject("*", 500)

    assert [faults.take("GET", "/zones").status for _ in range(2)] == [429, 500]


@pytest.mark.parametrize(
    ("status", "options"), [(200, {}), (404, {}), (429, {"times": 0}), (500, {"retry_after": -1})]
)
def test_faults_that_no_api_sends_are_refused(status, options):
    with pytest.raises(ValueError):
        FaultInjector().inject("/x", status, **options)


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("env=prod", {"a"}),
        ("env==prod", {"a"}),
        ("env!=prod", {"b", "c"}),
        ("env", {"a", "b"}),
        ("!env", {"c"}),
        ("env in (prod, staging)", {"a", "b"}),
        ("env notin (prod)", {"b", "c"}),
        ("env in (prod,staging),team=web", {"a"}),
        ("vmkit.dev/repo=shop", {"a"}),
    ],
)
def test_label_selectors(selector, matches):
    servers = {
        "a": {"env": "prod", "team": "web", "vmkit.dev/repo": "shop"},
        "b": {"env": "staging"},
        "c": {},
    }
    predicate = parse_selector(selector)
    assert {name for name, labels in servers.items() if predicate(labels)} == matches


@pytest.mark.parametrize("selector", ["env in (a", "a,,b", "=x", "env in a"])
def test_bad_selectors_are_invalid_input(selector):
    with pytest.raises(HetznerError) as refused:
        parse_selector(selector)
    assert refused.value.code == "invalid_input"


@pytest.mark.parametrize(
    "labels", [{"bad key!": "x"}, {"k": "x" * 64}, {"k": 1}, ["not", "a", "dict"]]
)
def test_invalid_labels_are_refused(labels):
    with pytest.raises(HetznerError):
        validate_labels(labels)


def test_valid_labels_pass():
    assert validate_labels({"vmkit.dev/env": "prod", "empty": ""}) == {
        "vmkit.dev/env": "prod",
        "empty": "",
    }


def test_record_names_are_completed_with_the_zone():
    assert qualified_name("@", "example.com") == "example.com"
    assert qualified_name("WWW.", "example.com") == "www.example.com"
    assert qualified_name("api.example.com", "example.com") == "api.example.com"
    assert qualified_name("api.other.org", "example.com") == "api.other.org.example.com"


def test_proxied_records_get_automatic_ttl_and_mx_needs_a_priority():
    record = validated(
        {"type": "A", "name": "x", "content": "1.2.3.4", "ttl": 300, "proxied": True},
        "example.com",
    )
    assert record["ttl"] == 1
    with pytest.raises(CloudflareError) as refused:
        validated({"type": "MX", "name": "x", "content": "mx.example.com"}, "example.com")
    assert refused.value.chain == [(9101, "Priority must be set for MX records (0-65535).")]


def test_clashes_between_records():
    a = {"type": "A", "name": "x.example.com", "content": "1.2.3.4"}
    txt = {"type": "TXT", "name": "x.example.com", "content": "hello"}
    cname = {"type": "CNAME", "name": "x.example.com", "content": "y.example.com"}

    assert clash(dict(a), [a]).code == 81058
    assert clash(cname, [a]).code == 81053
    assert clash(txt, [cname]).code == 81054
    assert clash(txt, [a]) is None
    assert clash({**a, "content": "5.6.7.8"}, [a]) is None
