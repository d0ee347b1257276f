#!/usr/bin/env python3
"""API benchmark (issue 2): 10,000 virtual services x 4 real servers, in-process.

Prints: bundle import time (target <= 15 s), then p50/p95 of list (page of 50), detail,
create and drain (target p50 <= 30 ms), and the queries each request made.
Usage: .venv/bin/python bench/api.py [--services N] [--repeat R]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import big_bundle, report, timed, use_scratch_database  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()

    # Embedded mode: the drain's kernel.runtime step runs in this process (render-only), no worker needed.
    os.environ.setdefault("FULCRUM_CELERY_EAGER", "1")
    use_scratch_database()
    from django.contrib.auth import get_user_model
    from django.core.signals import request_started
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from cluster.bundle import import_bundle

    request_started.disconnect(reset_queries)  # keep the query log across a request, to count it
    bundle = big_bundle(args.services)
    t0 = time.perf_counter()
    counts = import_bundle(bundle)
    print(f"{'import bundle':<34} {time.perf_counter() - t0:8.2f} s   {counts}   (target <= 15 s at 10,000)")

    admin = get_user_model().objects.create_superuser("bench", password="bench-password-1")
    client = APIClient()
    client.force_authenticate(admin)
    ids = itertools.cycle(range(1, args.services + 1))
    new_labels = (f"new-{n}" for n in itertools.count())
    new_vips = (f"10.200.{n // 250}.{n % 250 + 1}" for n in itertools.count())
    rs_ids = itertools.cycle(range(1, args.services * 4 + 1))
    cases = {
        "list (page of 50)": lambda: client.get("/api/v1/virtual-services/?page=7"),
        "detail": lambda: client.get(f"/api/v1/virtual-services/{next(ids)}/"),
        "create": lambda: client.post("/api/v1/virtual-services/", {
            "label": next(new_labels), "vip": next(new_vips), "ports": "443", "protocol": "tcp",
            "method": "snat"}, format="json"),
        "drain": lambda: client.post(f"/api/v1/real-servers/{next(rs_ids)}/drain/"),
    }
    print(f"virtual services: {args.services}, real servers: {args.services * 4}, db: {connection.vendor}")
    for name, call in cases.items():
        call()  # warm up
        connection.queries_log.clear()  # a full log (maxlen) would make the count read 0
        with CaptureQueriesContext(connection) as queries:
            response = call()
        n_queries = len(queries)
        assert response.status_code in (200, 201), (name, response.status_code, response.content[:300])
        report(name, timed(call, args.repeat), f"queries/request={n_queries}")


if __name__ == "__main__":
    main()
