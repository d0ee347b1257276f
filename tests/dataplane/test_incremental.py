"""replace_services: for any edit of a few services, the state it builds and the ops it plans are
those of a full compile and plan; it refuses (None) only edits that reach beyond those services."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import event, given, settings
from hypothesis import strategies as st

from dataplane.compiler import compile_state
from dataplane.config import (
    DR,
    DRAIN,
    HALT,
    HEALTH_DOWN,
    HEALTH_UP,
    MAGLEV,
    NAT,
    ON_DOWN_REMOVE,
    ONE_PACKET,
    ONLINE,
    SNAT,
    TCP,
    TCP_UDP,
    TUN,
    UDP,
    ClusterSpec,
    PortRange,
    RealServerSpec,
    ServiceSpec,
)
from dataplane.diff import plan
from dataplane.incremental import replace_services

VIPS = ("192.0.2.10", "192.0.2.11", "2001:db8::10")
FIELDS = ("weight", "admin_state", "health", "max_conns")


def server(draw, n: int) -> RealServerSpec:
    return RealServerSpec(id=n, label=f"rs{n}", address=f"10.0.{n // 200}.{n % 200 + 1}",
                          port=draw(st.sampled_from((None, 8080))), weight=draw(st.integers(0, 3)),
                          max_conns=draw(st.sampled_from((0, 50))),
                          admin_state=draw(st.sampled_from((ONLINE, ONLINE, DRAIN, HALT))),
                          health=draw(st.sampled_from((HEALTH_UP, HEALTH_UP, HEALTH_DOWN))))


def service(draw, i: int) -> ServiceSpec:
    vip = draw(st.sampled_from(VIPS))
    port = 1000 + i  # unique per service, so keys never collide whatever else an edit changes
    return ServiceSpec(
        id=i, label=f"svc{i}", vip=vip, fwmark=i + 1,
        ports=draw(st.sampled_from(((PortRange(port, port),), (PortRange(port, port), PortRange(port + 1, port + 9))))),
        protocol=draw(st.sampled_from((TCP, UDP, TCP_UDP, ONE_PACKET))),
        method=draw(st.sampled_from((DR, NAT, SNAT, TUN))) if ":" not in vip else DR,
        scheduler=draw(st.sampled_from(("wlc", "rr", MAGLEV))), persistent=draw(st.booleans()),
        on_down=draw(st.sampled_from(("quiesce", ON_DOWN_REMOVE))), enabled=draw(st.booleans()),
        fallback_address=draw(st.sampled_from(("", "", "10.9.9.9"))) if ":" not in vip else "",
        real_servers=tuple(server(draw, 10 * i + n) for n in range(draw(st.integers(0, 3)))),
    )


@st.composite
def runtime_edit(draw, spec: ServiceSpec) -> ServiceSpec:
    """What stays inside the service's own IPVS entries: server fields, scheduler, servers added or gone."""
    servers = list(spec.real_servers)
    for n, rs in enumerate(servers):
        if draw(st.booleans()):
            field = draw(st.sampled_from(FIELDS))
            value = {"weight": draw(st.integers(0, 5)), "admin_state": draw(st.sampled_from((ONLINE, DRAIN, HALT))),
                     "health": draw(st.sampled_from((HEALTH_UP, HEALTH_DOWN))), "max_conns": 7}[field]
            servers[n] = replace(rs, **{field: value})
    if draw(st.booleans()):
        servers = servers[1:] + [server(draw, 10 * spec.id + 9)]
    return replace(spec, real_servers=tuple(servers), scheduler=draw(st.sampled_from((spec.scheduler, "rr", MAGLEV))))


@st.composite
def edits(draw):
    count = draw(st.integers(1, 8))
    before = {i: service(draw, i) for i in range(count)}
    after = dict(before)
    for i in draw(st.sets(st.integers(0, count + 1), min_size=1, max_size=3)):
        kind = draw(st.sampled_from(("runtime", "runtime", "any", "gone")))
        if kind == "gone":
            after.pop(i, None)
        elif kind == "runtime" and i in after:
            after[i] = draw(runtime_edit(after[i]))
        else:
            after[i] = service(draw, i)  # new, or anything about it changed (VIP, method, ports, enabled)
    edited = {i for i in before.keys() | after.keys() if before.get(i) != after.get(i)}
    return before, after, edited


def cluster(services: dict) -> ClusterSpec:
    return ClusterSpec(vip_interface="eth1", autonat_interface="eth2", services=tuple(services.values()))


@settings(max_examples=300, deadline=None)
@given(edits())
def test_replacing_the_edited_services_equals_a_full_compile(case):
    before, after, edited = case
    start, want = compile_state(cluster(before)), compile_state(cluster(after))
    got = replace_services(start, cluster({}), [before[i] for i in edited if i in before],
                           [after[i] for i in edited if i in after])
    event("refused" if got is None else "replaced")
    if got is None:  # refused: the edit moved a key, VIP, rule or sysctl, which the full compile handles
        return
    assert got.state == want
    assert got.ops == plan(start, want)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_an_edit_inside_the_services_own_entries_is_never_refused(data):
    before = {i: service(data.draw, i) for i in range(4)}
    after = {**before, 2: data.draw(runtime_edit(before[2]))}
    start, want = compile_state(cluster(before)), compile_state(cluster(after))
    got = replace_services(start, cluster({}), [before[2]], [after[2]])
    assert got is not None and got.state == want and got.ops == plan(start, want)


def test_an_edit_that_moves_a_rule_or_a_shared_setting_is_refused():
    svc = ServiceSpec(id=1, label="a", vip="192.0.2.10", ports=(PortRange(80, 80),), real_servers=())
    start = compile_state(cluster({1: svc}))
    assert replace_services(start, cluster({}), [svc], [replace(svc, method=NAT)]) is None  # ip_forward
    assert replace_services(start, cluster({}), [svc], [replace(svc, vip="192.0.2.11")]) is None  # key, address
    assert replace_services(start, cluster({}), [svc], [replace(svc, enabled=False)]) is None
    assert replace_services(start, replace(cluster({}), active_active=True), [svc], [svc]) is None
    assert replace_services(start, replace(cluster({}), tcp_timeout=1), [svc], [svc]) is None
