"""Ethernet frames for the probes: ARP, IPv4 with TCP / UDP / ICMP, built and parsed by hand.

Only what the probes need: no options, no fragments, IPv4 only.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
BROADCAST = "ff:ff:ff:ff:ff:ff"
TCP, UDP, ICMP = 6, 17, 1
SYN, RST, ACK = 0x02, 0x04, 0x10
ICMP_ECHO_REPLY, ICMP_UNREACH, ICMP_ECHO = 0, 3, 8


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def mac_str(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def ip_bytes(ip: str) -> bytes:
    return ipaddress.IPv4Address(ip).packed


def ip_str(raw: bytes) -> str:
    return str(ipaddress.IPv4Address(raw))


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ethernet(dst: str, src: str, ethertype: int, payload: bytes) -> bytes:
    frame = mac_bytes(dst) + mac_bytes(src) + struct.pack("!H", ethertype) + payload
    return frame.ljust(60, b"\0")  # minimum frame size without the FCS


def arp_request(src_mac: str, src_ip: str, target_ip: str) -> bytes:
    """A broadcast "who has target_ip? tell src_ip"."""
    body = struct.pack("!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, 1, mac_bytes(src_mac), ip_bytes(src_ip),
                       b"\0" * 6, ip_bytes(target_ip))
    return ethernet(BROADCAST, src_mac, ETH_P_ARP, body)


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 0, ttl: int = 64) -> bytes:
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, ttl, proto, 0,
                       ip_bytes(src), ip_bytes(dst))
    head = head[:10] + struct.pack("!H", checksum(head)) + head[12:]
    return head + payload


def _pseudo(src: str, dst: str, proto: int, length: int) -> bytes:
    return ip_bytes(src) + ip_bytes(dst) + struct.pack("!BBH", 0, proto, length)


def tcp(src: str, dst: str, sport: int, dport: int, flags: int, seq: int, ack: int = 0) -> bytes:
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0)
    csum = checksum(_pseudo(src, dst, TCP, len(seg)) + seg)
    return seg[:16] + struct.pack("!H", csum) + seg[18:]


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes = b"") -> bytes:
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    csum = checksum(_pseudo(src, dst, UDP, len(seg)) + seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", csum) + seg[8:]


def icmp_echo(ident: int, seq: int, payload: bytes = b"fulcrum-checklist") -> bytes:
    msg = struct.pack("!BBHHH", ICMP_ECHO, 0, 0, ident, seq) + payload
    return msg[:2] + struct.pack("!H", checksum(msg)) + msg[4:]


@dataclass(frozen=True)
class Arp:
    op: int  # 1 request, 2 reply
    sender_mac: str
    sender_ip: str
    target_ip: str


@dataclass(frozen=True)
class IPv4Packet:
    src_mac: str
    dst_mac: str
    src: str
    dst: str
    proto: int
    sport: int = 0  # TCP/UDP ports; ICMP echo: the identifier
    dport: int = 0
    flags: int = 0  # TCP flags
    seq: int = 0
    ack: int = 0
    icmp_type: int = -1
    quoted: IPv4Packet | None = None  # the packet an ICMP error quotes


def parse(frame: bytes) -> Arp | IPv4Packet | None:
    if len(frame) < 14:
        return None
    dst_mac, src_mac = mac_str(frame[0:6]), mac_str(frame[6:12])
    (ethertype,) = struct.unpack("!H", frame[12:14])
    body = frame[14:]
    if ethertype == ETH_P_ARP and len(body) >= 28:
        _, ptype, _, _, op, smac, sip, _, tip = struct.unpack("!HHBBH6s4s6s4s", body[:28])
        return Arp(op, mac_str(smac), ip_str(sip), ip_str(tip)) if ptype == ETH_P_IP else None
    if ethertype == ETH_P_IP:
        return parse_ipv4(body, src_mac, dst_mac)
    return None


def parse_ipv4(data: bytes, src_mac: str = "", dst_mac: str = "", inner: bool = False) -> IPv4Packet | None:
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0x0F) * 4
    proto, src, dst = data[9], ip_str(data[12:16]), ip_str(data[16:20])
    l4 = data[ihl:]
    base = {"src_mac": src_mac, "dst_mac": dst_mac, "src": src, "dst": dst, "proto": proto}
    if proto == TCP and len(l4) >= (8 if inner else 20):
        sport, dport, seq = struct.unpack("!HHI", l4[:8])
        ack, flags = (struct.unpack("!I", l4[8:12])[0], l4[13]) if len(l4) >= 14 else (0, 0)
        return IPv4Packet(**base, sport=sport, dport=dport, flags=flags, seq=seq, ack=ack)
    if proto == UDP and len(l4) >= 8:
        sport, dport = struct.unpack("!HH", l4[:4])
        return IPv4Packet(**base, sport=sport, dport=dport)
    if proto == ICMP and len(l4) >= 8:
        kind = l4[0]
        if kind in (ICMP_ECHO, ICMP_ECHO_REPLY):
            ident, seq = struct.unpack("!HH", l4[4:8])
            return IPv4Packet(**base, sport=ident, seq=seq, icmp_type=kind)
        quoted = None if inner else parse_ipv4(l4[8:], inner=True)
        return IPv4Packet(**base, icmp_type=kind, quoted=quoted)
    return IPv4Packet(**base)
