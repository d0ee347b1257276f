"""`manage.py apply --dry-run`: the commands an apply would run, as an admin's tools write them, grouped
and counted; only the difference from what the kernel holds; --full prints the whole state."""

import io

import pytest
from django.core.management import call_command

from cluster.apply import apply_now
from cluster.models import ApplyRun

pytestmark = pytest.mark.django_db


def dry_run(*extra) -> str:
    out = io.StringIO()
    call_command("apply", "--dry-run", *extra, stdout=out)
    return out.getvalue()


def test_the_dry_run_prints_only_what_an_apply_would_change(make_service):
    svc = make_service(label="web", vip="192.0.2.10", ports="443", method="nat",
                       servers=[{"label": "a", "address": "198.51.100.11"}])
    first = dry_run()
    assert "# ipvsadm: 2 commands" in first
    assert "ipvsadm -A -t 192.0.2.10:443" in first and "ipvsadm -a -t 192.0.2.10:443 -r 198.51.100.11:443" in first
    assert "IpvsService(" not in first and "AddService(" not in first  # no Python object dumps
    assert apply_now(actor="test").status == ApplyRun.SUCCESS
    assert "Nothing to change" in dry_run()
    rs = svc.real_servers.get()
    rs.weight = 75
    rs.save()
    after = dry_run()
    assert after.splitlines() == ["# ipvsadm: 1 command", "ipvsadm -e -t 192.0.2.10:443 -r 198.51.100.11:443 -m -w 75"]


def test_full_prints_the_whole_state(make_service):
    make_service(label="web", vip="192.0.2.10", ports="443", method="nat",
                 servers=[{"label": "a", "address": "198.51.100.11"}])
    assert apply_now(actor="test").status == ApplyRun.SUCCESS
    full = dry_run("--full")
    assert "-A -t 192.0.2.10:443" in full and "Nothing to change" not in full
