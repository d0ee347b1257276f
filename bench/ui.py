#!/usr/bin/env python3
"""WebUI benchmark (issue 6): server time of the System Overview and the services list.

1,000 virtual services x 4 real servers (4,000), in-process through Django's test client (the
whole request: middleware, session, context processors, view, template). Prints p50/p95 per page
and the queries each request made, at N and at N/10 to show the count does not grow with N.
Target: System Overview <= 300 ms server time.
Usage: .venv/bin/python bench/ui.py [--services N] [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import big_bundle, report, timed, use_scratch_database  # noqa: E402

PAGES = [
    ("overview (page of 100)", "/"),
    ("overview (all services)", "/?per_page=0"),
    ("overview live refresh (htmx partial)", "/overview/live/"),
    ("overview live refresh (all services)", "/overview/live/?per_page=0"),
    ("overview search", "/?q=svc-0009"),
    ("services list (page of 100)", "/services/"),
    ("services list (all)", "/services/?per_page=0"),
]


def fake_stats(services: int):
    """Counters for every service, as the sampler stores them (sparklines and connection counts)."""
    from datetime import timedelta

    from django.utils import timezone

    from realservers.models import RealServer
    from reports.sampling import sample

    servers: dict[str, list] = {}
    for rs in RealServer.objects.values("id", "service__label"):
        servers.setdefault(rs["service__label"], []).append(rs["id"])
    now = timezone.now()
    for n in range(3):
        sample({"services": [{"label": label, "active_conns": 10 + n, "inactive_conns": 3, "conns": 100 * n,
                              "inbytes": 10**5 * n, "outbytes": 10**6 * n,
                              "real_servers": [{"id": i, "active_conns": 2, "inactive_conns": 1} for i in ids]}
                             for label, ids in servers.items()]}, now=now - timedelta(minutes=3 - n))


def measure(client, repeat: int, label: str):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    out = {}
    for name, path in PAGES:
        response = client.get(path)  # warm up
        assert response.status_code == 200, (path, response.status_code)
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as queries:
            client.get(path)
        out[name] = n = len(queries)
        report(f"{name}", timed(lambda p=path: client.get(p), repeat), f"queries={n} [{label}]")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    os.environ.setdefault("FULCRUM_ALLOWED_HOSTS", "testserver")  # Django's test client's Host
    use_scratch_database()
    from django.contrib.auth import get_user_model
    from django.core.signals import request_started
    from django.db import connection, reset_queries
    from django.test import Client

    from cluster.bundle import import_bundle

    request_started.disconnect(reset_queries)  # keep the query log across a request, to count it
    admin = get_user_model().objects.create_superuser("bench", password="bench-password-1")
    client = Client()
    client.force_login(admin)
    counts = {}
    for n in (max(args.services // 10, 1), args.services):
        import_bundle(big_bundle(n))
        fake_stats(n)
        print(f"--- {n} virtual services, {n * 4} real servers, db: {connection.vendor}")
        counts[n] = measure(client, args.repeat if n == args.services else 5, f"N={n}")
    small, big = counts.values()
    grown = {k: (small[k], big[k]) for k in big if big[k] != small[k]}
    print("query count constant in N:", "yes" if not grown else f"NO {grown}")


if __name__ == "__main__":
    main()
