"""VMKit's DigitalOcean adapter (pydo underneath) against the DigitalOcean simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

import vmkit.adapters.digitalocean as digitalocean
from vmkit import catalog
from vmkit.adapters.digitalocean import DigitalOcean, labels_of, tags_for
from vmkit.errors import ProviderCredentialsRejected, ProviderError
from vmkit.models import Provider
from vmkit_local.simulators.digitalocean import DigitalOceanSimulator

TOKEN = "dop_v1_integration"
USER_DATA = "#cloud-config\nruncmd: [[echo, hello]]\n"
LABELS = {"vmkit.dev/managed": "true", "vmkit.dev/instance": "ins_01TEST"}


class Machines:
    """Records what the simulator asked of the VMs (the sandbox fleet's part)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.booted: dict[int, tuple[str, str]] = {}
        self.fail_boot = False

    def boot(self, droplet_id: int, name: str, user_data: str, labels: dict[str, str]) -> str:
        if self.fail_boot:
            raise RuntimeError("the sandbox could not start")
        self.booted[droplet_id] = (name, user_data)
        return f"203.0.113.{len(self.booted)}"

    def hook(self, what: str):
        return lambda droplet_id: self.calls.append((what, droplet_id))


@pytest.fixture
def machines() -> Machines:
    return Machines()


@pytest.fixture
def sim(machines: Machines, tmp_path: Path) -> DigitalOceanSimulator:
    return DigitalOceanSimulator(
        token=TOKEN,
        data_dir=tmp_path,
        boot=machines.boot,
        destroy=machines.hook("destroy"),
        power_off=machines.hook("power_off"),
        power_on=machines.hook("power_on"),
        rebuild=machines.hook("rebuild"),
    )


@pytest.fixture
def url(sim, serve) -> str:
    return serve(sim.app)


@pytest.fixture
def do(url) -> DigitalOcean:
    return DigitalOcean(TOKEN, api_endpoint=url, poll_interval=0.01, retry_backoff=0.01)


def create(do: DigitalOcean, name: str = "shop-production-abc123", **kwargs):
    options = {"server_type": "s-2vcpu-4gb", "region": "nyc3", "user_data": USER_DATA}
    return do.create_server(name=name, labels=LABELS, **{**options, **kwargs})


def test_a_droplet_is_created_found_and_deleted(do, machines):
    server = create(do)
    assert server.status == "active" and server.ip == "203.0.113.1"
    assert server.labels == LABELS and server.server_type == "s-2vcpu-4gb"
    assert machines.booted[int(server.id)] == ("shop-production-abc123", USER_DATA)
    assert do.find_servers({"vmkit.dev/instance": "ins_01TEST"}) == [server]
    assert do.find_servers({"vmkit.dev/instance": "ins_OTHER"}) == []
    assert do.get_server(server.id) == server
    do.delete_server(server.id)
    do.delete_server(server.id)  # already gone: not an error
    assert do.get_server(server.id) is None
    assert machines.calls == [("destroy", int(server.id))]


def test_resize_stops_the_droplet_keeps_its_disk_and_brings_it_back(do, machines):
    server = create(do)
    bigger = do.resize_server(server.id, "s-4vcpu-8gb")
    assert bigger.server_type == "s-4vcpu-8gb" and bigger.status == "active"
    assert bigger.ip == server.ip
    assert machines.calls == [("power_off", int(server.id)), ("power_on", int(server.id))]
    droplet = do.client.droplets.get(int(server.id))["droplet"]
    assert droplet["disk"] == 80 and droplet["vcpus"] == 4  # disk: false kept the disk
    # Because the disk did not grow, the resize can be undone.
    assert do.resize_server(server.id, "s-2vcpu-4gb").server_type == "s-2vcpu-4gb"
    machines.calls.clear()
    assert do.resize_server(server.id, "s-2vcpu-4gb").server_type == "s-2vcpu-4gb"
    assert machines.calls == []  # the size it has: nothing to do


def test_a_resize_to_a_size_not_offered_names_the_size_and_region_and_is_not_retried(do, sim):
    server = create(do)
    with pytest.raises(ProviderError) as caught:
        do.resize_server(server.id, "s-64vcpu-1tb")
    assert not caught.value.transient
    assert "s-64vcpu-1tb" in caught.value.message and "nyc3" in caught.value.message
    assert "invalid size" in caught.value.message


def test_rebuild_keeps_the_droplet_and_its_address(do, machines):
    server = create(do)
    rebuilt = do.rebuild_server(server.id)
    assert (rebuilt.id, rebuilt.ip, rebuilt.status) == (server.id, server.ip, "active")
    assert machines.calls == [("rebuild", int(server.id))]


def test_a_bad_token_is_refused_as_such(url):
    with pytest.raises(ProviderCredentialsRejected) as caught:
        DigitalOcean("dop_v1_wrong", api_endpoint=url).check_credentials()
    assert caught.value.status == 403 and "token" in caught.value.message
    DigitalOcean(TOKEN, api_endpoint=url).check_credentials()


def test_an_unknown_region_is_named_in_the_error(do, machines):
    with pytest.raises(ProviderError) as caught:
        create(do, region="mars1")
    assert "region mars1" in caught.value.message and "invalid region" in caught.value.message
    assert not caught.value.transient and machines.booted == {}


def test_a_rate_limited_create_is_retried_and_succeeds(do, sim):
    sim.faults.inject("/droplets", 429, times=2, method="POST", retry_after=0)
    server = create(do)
    assert server.status == "active"
    assert sim.faults.pending() == []  # both 429s were served, then the create went through
    assert len(do.find_servers(LABELS)) == 1  # and only one Droplet was made


def test_server_errors_on_reads_are_retried_five_times_then_fail_transiently(do, sim):
    server = create(do)
    sim.faults.inject(f"/droplets/{server.id}", 503, times=10, method="GET")
    with pytest.raises(ProviderError) as caught:
        do.get_server(server.id)
    assert caught.value.transient
    assert "get a Droplet" in caught.value.message and "server_error" in caught.value.message
    assert sim.faults.pending()[0]["remaining"] == 10 - 6  # the call and five retries
    sim.faults.clear()
    sim.faults.inject(f"/droplets/{server.id}", 502, times=2, method="GET")
    assert do.get_server(server.id) == server  # within the budget: retried to success


def test_a_server_error_on_create_is_not_repeated_blindly(do, sim, machines):
    sim.faults.inject("/droplets", 500, times=1, method="POST")
    with pytest.raises(ProviderError) as caught:
        create(do)
    assert caught.value.transient  # the state machine retries the step, which looks first
    assert sim.faults.pending() == [] and machines.booted == {}


def test_a_failed_boot_fails_the_create_action(do, machines):
    machines.fail_boot = True
    with pytest.raises(ProviderError) as caught:
        create(do)
    assert "failed" in caught.value.message and "s-2vcpu-4gb in region nyc3" in caught.value.message


def test_listings_follow_every_page(do, monkeypatch):
    monkeypatch.setattr(digitalocean, "PAGE_SIZE", 2)
    made = {create(do, name=f"web-{i}").id for i in range(5)}
    assert {s.id for s in do.find_servers(LABELS)} == made
    assert len(do.list_sizes()) > 2


def test_the_catalog_matches_what_the_provider_lists(do):
    sizes = {s.name: s for s in do.list_sizes()}
    regions = {r.name for r in do.list_regions() if r.available}
    offer = catalog.offer(Provider.digitalocean)
    assert set(offer.regions) <= regions
    for name, entry in offer.types.items():
        listed = sizes[name]
        assert (listed.vcpus, listed.memory_gb, listed.disk_gb, listed.monthly_usd) == (
            entry.vcpus,
            entry.memory_gb,
            entry.disk_gb,
            entry.monthly_usd,
        )
        assert set(offer.regions) <= set(listed.regions)


def test_labels_travel_as_tags_and_come_back():
    tags = tags_for(LABELS)
    assert tags == ["vmkit_dev:instance:ins_01TEST", "vmkit_dev:managed:true"]
    assert labels_of([*tags, "web", "env:prod"]) == LABELS  # the user's own tags are left out
    for bad in ({"has_underscore": "x"}, {"vmkit.dev/x": "a:b"}, {"vmkit.dev/x": "a b"}):
        with pytest.raises(ValueError):
            tags_for(bad)
