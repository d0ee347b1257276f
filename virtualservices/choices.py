"""Choices for virtual services, with the help an admin needs to pick one."""

from dataplane import config as dp

PROTOCOLS = [
    (dp.TCP, "TCP"),
    (dp.UDP, "UDP"),
    (dp.TCP_UDP, "TCP + UDP"),
    (dp.ONE_PACKET, "UDP one-packet scheduling"),
    (dp.FWMARK, "Firewall mark"),
]
METHODS = [
    (dp.DR, "Direct Routing (DR)"),
    (dp.NAT, "NAT"),
    (dp.SNAT, "SNAT (Layer 4 source NAT)"),
    (dp.TUN, "IP tunnel (TUN)"),
]
METHOD_HELP = (
    "DR: fastest and transparent; real servers keep the VIP on a loopback adapter and must not answer ARP "
    "for it; ports cannot be translated. NAT: transparent; each real server's default gateway must be the "
    "load balancer. SNAT: real servers see the load balancer's address, no change on them, not transparent. "
    "TUN: IP-in-IP to real servers that decapsulate; ports cannot be translated."
)
SCHEDULERS = [
    ("rr", "Round robin"),
    ("wrr", "Weighted round robin"),
    ("lc", "Least connection"),
    ("wlc", "Weighted least connection"),
    ("lblc", "Locality-based least connection"),
    ("lblcr", "Locality-based least connection with replication"),
    ("dh", "Destination hashing"),
    ("sh", "Source hashing"),
    ("sed", "Shortest expected delay"),
    ("nq", "Never queue"),
    ("mh", "Maglev hashing"),
    ("fo", "Weighted failover"),
    ("ovf", "Weighted overflow"),
]
CHECK_NONE, CHECK_DOWN = "none", "down"
CHECK_TCP, CHECK_HTTP, CHECK_HTTPS, CHECK_SSTP = "tcp", "http", "https", "sstp"
CHECK_UDP, CHECK_ICMP, CHECK_DNS, CHECK_RADIUS, CHECK_IKEV2, CHECK_EXTERNAL = (
    "udp", "icmp", "dns", "radius", "ikev2", "external")
CHECK_TYPES = [
    (CHECK_NONE, "No check, always up"),
    (CHECK_DOWN, "Always down"),
    (CHECK_TCP, "TCP connect"),
    (CHECK_HTTP, "HTTP"),
    (CHECK_HTTPS, "HTTPS"),
    (CHECK_SSTP, "SSTP (HTTPS to the SSTP URL)"),
    (CHECK_UDP, "UDP request/reply"),
    (CHECK_ICMP, "ICMP ping"),
    (CHECK_DNS, "DNS query"),
    (CHECK_RADIUS, "RADIUS request"),
    (CHECK_IKEV2, "IKEv2 IKE_SA_INIT"),
    (CHECK_EXTERNAL, "External script"),
]
_CHECKED = [t for t, _ in CHECK_TYPES if t not in (CHECK_NONE, CHECK_DOWN)]
_WEB = [CHECK_HTTP, CHECK_HTTPS, CHECK_SSTP]
# Which check settings each check type reads (healthchecks.checks); the form shows only these.
CHECK_FIELD_TYPES = {
    "check_port": [t for t in _CHECKED if t != CHECK_ICMP],
    **{name: _CHECKED for name in ("check_interval", "check_timeout", "check_rise", "check_fall", "on_down")},
    "check_method": _WEB, "check_status": _WEB, "check_vhost": _WEB, "check_verify_tls": [CHECK_HTTPS, CHECK_SSTP],
    "check_request": [*_WEB, CHECK_UDP, CHECK_DNS], "check_response": [*_WEB, CHECK_UDP, CHECK_DNS],
    "check_secret": [CHECK_RADIUS], "check_script": [CHECK_EXTERNAL],
}
SSTP_PATH = "/sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/"
HTTP_METHODS = [("GET", "GET"), ("HEAD", "HEAD")]
ON_DOWN = [(dp.ON_DOWN_QUIESCE, "Quiesce (weight 0, existing connections finish)"),
           (dp.ON_DOWN_REMOVE, "Remove from the table")]
