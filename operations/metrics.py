"""/metrics: the appliance in Prometheus text format, read from the same sources as the WebUI.

Kernel figures come from cluster.status.kernel_status() (the worker's Redis snapshot, or a direct read
in embedded mode), so they are the figures `ipvsadm -Ln --stats` shows; health and check latencies
from healthcheckd's live status (Redis) or the database; apply runs, drift and peer sync from the database.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily

from cluster import status as cluster_status
from cluster.models import ApplyRun, DriftCheck
from ha.models import Peer
from healthchecks import live as health_live
from realservers.models import RealServer

log = logging.getLogger(__name__)

HEALTH_STATES = ("up", "down", "unknown")
SERVICE_LABELS = ["service", "service_id"]
SERVER_LABELS = ["service", "service_id", "real_server", "real_server_id", "address", "port"]


class FulcrumCollector:
    def collect(self):
        yield from self._kernel()
        yield from self._apply()
        yield from self._peer()
        yield from self._bgp()

    # ---------------------------------------------------------------- services and real servers
    def _kernel(self):
        up = GaugeMetricFamily("fulcrum_kernel_status_up", "1 when the kernel figures could be read.")
        try:
            status = cluster_status.kernel_status()  # module attribute: read at call time
            up.add_metric([], 1)
        except Exception as e:  # noqa: BLE001 - the rest of /metrics still answers
            log.warning("metrics: kernel status unavailable: %s", e)
            status = {"services": []}
            up.add_metric([], 0)
        yield up
        if "dataplane" in status:
            info = GaugeMetricFamily("fulcrum_dataplane_info", "The dataplane in use and where figures came from.",
                                     labels=["dataplane", "source"])
            info.add_metric([status["dataplane"], status.get("source", "")], 1)
            yield info

        s_in = GaugeMetricFamily("fulcrum_service_in_kernel", "1 when the service is in the IPVS table.",
                                 labels=SERVICE_LABELS)
        s_conn = GaugeMetricFamily("fulcrum_service_connections", "Current connections (active, inactive).",
                                   labels=[*SERVICE_LABELS, "state"])
        s_total = CounterMetricFamily("fulcrum_service_connections", "Connections scheduled (ipvsadm Conns).",
                                      labels=SERVICE_LABELS)
        s_pkts = CounterMetricFamily("fulcrum_service_packets", "Packets (ipvsadm InPkts/OutPkts).",
                                     labels=[*SERVICE_LABELS, "direction"])
        s_bytes = CounterMetricFamily("fulcrum_service_bytes", "Bytes (ipvsadm InBytes/OutBytes).",
                                      labels=[*SERVICE_LABELS, "direction"])
        r_in = GaugeMetricFamily("fulcrum_realserver_in_kernel", "1 when the real server is an IPVS destination.",
                                 labels=SERVER_LABELS)
        r_conn = GaugeMetricFamily("fulcrum_realserver_connections", "Current connections.",
                                   labels=[*SERVER_LABELS, "state"])
        r_total = CounterMetricFamily("fulcrum_realserver_connections", "Connections scheduled (ipvsadm Conns).",
                                      labels=SERVER_LABELS)
        r_pkts = CounterMetricFamily("fulcrum_realserver_packets", "Packets.", labels=[*SERVER_LABELS, "direction"])
        r_bytes = CounterMetricFamily("fulcrum_realserver_bytes", "Bytes.", labels=[*SERVER_LABELS, "direction"])
        r_weight = GaugeMetricFamily("fulcrum_realserver_weight", "Weight in the kernel now (0: quiesced).",
                                     labels=SERVER_LABELS)
        r_cweight = GaugeMetricFamily("fulcrum_realserver_configured_weight", "Weight as configured.",
                                      labels=SERVER_LABELS)
        r_health = GaugeMetricFamily("fulcrum_realserver_health", "Health state (1 for the current state).",
                                     labels=[*SERVER_LABELS, "state"])
        r_latency = GaugeMetricFamily("fulcrum_realserver_check_latency_seconds",
                                      "How long the last health check took.", labels=SERVER_LABELS)
        r_check_ok = GaugeMetricFamily("fulcrum_realserver_check_ok", "1 when the last health check passed.",
                                       labels=SERVER_LABELS)

        configured = {rs.pk: rs for rs in RealServer.objects.all().only("id", "weight", "health")}
        live = health_live.live_statuses()
        for svc in status["services"]:
            sl = [svc["label"], str(svc["id"])]
            s_in.add_metric(sl, int(bool(svc["in_kernel"])))
            s_conn.add_metric([*sl, "active"], svc["active_conns"])
            s_conn.add_metric([*sl, "inactive"], svc["inactive_conns"])
            s_total.add_metric(sl, svc["conns"])
            s_pkts.add_metric([*sl, "in"], svc["inpkts"])
            s_pkts.add_metric([*sl, "out"], svc["outpkts"])
            s_bytes.add_metric([*sl, "in"], svc["inbytes"])
            s_bytes.add_metric([*sl, "out"], svc["outbytes"])
            for rs in svc["real_servers"]:
                rl = [*sl, rs["label"], str(rs["id"]), str(rs["address"]), str(rs["port"])]
                r_in.add_metric(rl, int(bool(rs["in_kernel"])))
                for state in ("active", "inactive", "persistent"):
                    r_conn.add_metric([*rl, state], rs[f"{state}_conns"])
                r_total.add_metric(rl, rs["conns"])
                r_pkts.add_metric([*rl, "in"], rs["inpkts"])
                r_pkts.add_metric([*rl, "out"], rs["outpkts"])
                r_bytes.add_metric([*rl, "in"], rs["inbytes"])
                r_bytes.add_metric([*rl, "out"], rs["outbytes"])
                if rs["weight"] is not None:
                    r_weight.add_metric(rl, rs["weight"])
                row = configured.get(rs["id"])
                if row is not None:
                    r_cweight.add_metric(rl, row.weight)
                state = live.get(rs["id"], {}).get("state") or (row.health if row else "unknown")
                for s in HEALTH_STATES:
                    r_health.add_metric([*rl, s], int(state == s))
                last = live.get(rs["id"])
                if last and last.get("latency_ms") is not None:
                    r_latency.add_metric(rl, last["latency_ms"] / 1000)
                    r_check_ok.add_metric(rl, int(bool(last.get("ok"))))
        yield from (s_in, s_conn, s_total, s_pkts, s_bytes,
                    r_in, r_conn, r_total, r_pkts, r_bytes, r_weight, r_cweight, r_health, r_latency, r_check_ok)

    # ---------------------------------------------------------------- apply runs and drift
    def _apply(self):
        from django.db.models import Count, Sum

        runs = CounterMetricFamily("fulcrum_apply_runs", "Apply runs by outcome.", labels=["status"])
        counts = dict(ApplyRun.objects.values_list("status").annotate(n=Count("id")).order_by())
        for status, _ in ApplyRun.STATUSES:
            runs.add_metric([status], counts.get(status, 0))
        yield runs

        finished = ApplyRun.objects.filter(status__in=[ApplyRun.SUCCESS, ApplyRun.FAILED], duration_ms__isnull=False)
        agg = finished.aggregate(n=Count("id"), total=Sum("duration_ms"))
        duration = SummaryMetricFamily("fulcrum_apply_duration_seconds", "Duration of finished apply runs.")
        duration.add_metric([], count_value=agg["n"] or 0, sum_value=(agg["total"] or 0) / 1000)
        yield duration

        last = finished.order_by("-id").first()
        if last is not None:
            g = GaugeMetricFamily("fulcrum_apply_last_duration_seconds", "Duration of the latest finished apply.")
            g.add_metric([], last.duration_ms / 1000)
            yield g
            g = GaugeMetricFamily("fulcrum_apply_last_success", "1 when the latest finished apply succeeded.")
            g.add_metric([], int(last.status == ApplyRun.SUCCESS))
            yield g
            if last.finished_at:
                g = GaugeMetricFamily("fulcrum_apply_last_finished_timestamp_seconds", "When it finished.")
                g.add_metric([], last.finished_at.timestamp())
                yield g
        pending = GaugeMetricFamily("fulcrum_apply_pending_runs", "Queued or running apply runs.")
        pending.add_metric([], ApplyRun.objects.filter(status__in=[ApplyRun.QUEUED, ApplyRun.RUNNING]).count())
        yield pending

        check = DriftCheck.objects.order_by("-id").first()
        if check is not None:
            g = GaugeMetricFamily("fulcrum_drift_detected", "1 when the latest drift check found the kernel "
                                  "different from the applied state.")
            g.add_metric([], int(check.drift))
            yield g
            g = GaugeMetricFamily("fulcrum_drift_last_check_timestamp_seconds", "When the kernel was last compared.")
            g.add_metric([], check.time.timestamp())
            yield g

    # ---------------------------------------------------------------- HA peer
    def _peer(self):
        peer = Peer.current()
        paired = GaugeMetricFamily("fulcrum_peer_paired", "1 when this appliance has an HA peer.")
        paired.add_metric([], int(peer is not None))
        yield paired
        if peer is None:
            return
        labels = ["node", "peer"]
        lv = [peer.node_name, peer.peer_name or str(peer.address)]
        sync = GaugeMetricFamily("fulcrum_peer_sync_state", "Configuration sync with the peer (1 for the current "
                                 "state).", labels=[*labels, "state"])
        for state, _ in Peer.SYNC_STATES:
            sync.add_metric([*lv, state], int(peer.sync_state == state))
        yield sync
        for name, doc, value in (
            ("fulcrum_peer_in_sync", "1 when the peer runs this node's configuration version.", int(peer.in_sync)),
            ("fulcrum_peer_reachable", "1 when the peer answered the last contact.", int(bool(peer.reachable))),
            ("fulcrum_peer_local_version", "Configuration version this node runs.", peer.local_version),
            ("fulcrum_peer_confirmed_version", "Configuration version the peer last confirmed.", peer.peer_version),
        ):
            g = GaugeMetricFamily(name, doc, labels=labels)
            g.add_metric(lv, value)
            yield g
        if peer.last_sync_at:
            g = GaugeMetricFamily("fulcrum_peer_last_sync_timestamp_seconds", "Last successful sync.", labels=labels)
            g.add_metric(lv, peer.last_sync_at.timestamp())
            yield g
        vrrp = GaugeMetricFamily("fulcrum_vrrp_state", "This node's VRRP state from keepalived (1 for the "
                                 "current state).", labels=[*labels, "state"])
        for state in ("master", "backup", "fault", "unknown"):
            vrrp.add_metric([*lv, state], int((peer.vrrp_state or "unknown").lower() == state))
        yield vrrp

    # ---------------------------------------------------------------- active-active: BGP sessions
    def _bgp(self):
        from cluster.bgp import sessions

        up = GaugeMetricFamily("fulcrum_bgp_session_established", "1 when the BGP session with the neighbour "
                               "is established (active-active).", labels=["neighbour", "state"])
        sent = GaugeMetricFamily("fulcrum_bgp_prefixes_announced", "Prefixes (VIPs) announced to the neighbour.",
                                 labels=["neighbour"])
        for s in sessions():
            up.add_metric([s.neighbour, s.state], int(s.established))
            sent.add_metric([s.neighbour], s.prefixes_sent)
        yield from (up, sent)


def render() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FulcrumCollector())
    return generate_latest(registry)
