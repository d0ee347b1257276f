"""The host network's section of the configuration bundle: round trip, validation by path, HA leaves it out."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from cluster.bundle import export_bundle, import_bundle, parse_bundle
from netconfig.models import Interface, Route

pytestmark = pytest.mark.django_db


def saved(**fields):
    obj = (Route if "destination" in fields else Interface)(**fields)
    obj.full_clean()
    obj.save()
    return obj


@pytest.fixture
def network():
    saved(name="eth0", addresses=["192.0.2.10/24"], mtu=1500)
    saved(name="eth1.20", kind="vlan", parent="eth1", vlan_id=20, addresses=["198.51.100.1/24"])
    saved(name="bond0", kind="bond", bond_mode="802.3ad", members=["eth2", "eth3"])
    saved(destination="0.0.0.0/0", gateway="192.0.2.1")


def test_round_trip(network):
    bundle = export_bundle()
    assert [i["name"] for i in bundle["network"]["interfaces"]] == ["bond0", "eth0", "eth1.20"]
    eth0_pk = Interface.objects.get(name="eth0").pk
    Interface.objects.filter(name="bond0").delete()
    Route.objects.all().delete()
    import_bundle(bundle)
    assert export_bundle()["network"] == bundle["network"]
    assert Interface.objects.get(name="eth0").pk == eth0_pk  # kept, not recreated


def test_ha_sync_leaves_the_host_network_out(network):
    assert "network" not in export_bundle(host_network=False)
    bundle = export_bundle(host_network=False)
    import_bundle(bundle)  # no section: this host's network is left as it is
    assert Interface.objects.count() == 3 and Route.objects.count() == 1


def test_errors_name_the_path_and_nothing_changes(network):
    bundle = export_bundle()
    bundle["network"]["interfaces"].append({"name": "eth1.21", "kind": "vlan", "parent": "eth1", "vlan_id": 5000})
    bundle["network"]["interfaces"].append({"name": "eth3", "addresses": ["192.0.2.99/25"]})
    bundle["network"]["routes"].append({"destination": "203.0.113.0/24", "gateway": "198.18.0.1"})
    with pytest.raises(ValidationError) as info:
        parse_bundle(bundle)
    errors = info.value.message_dict
    assert "1 to 4094" in errors["network.interfaces[3].vlan_id"][0]
    assert "overlaps 192.0.2.10/24 on eth0" in errors["network.interfaces[4].addresses"][0]
    assert "outside every subnet" in errors["network.routes[1].gateway"][0]
    assert Interface.objects.count() == 3
