"""What to do on the real servers, with the addresses filled in: the one copy of these steps.

Pure Python (no Django), so the WebUI, the API and the templates share it. Each function
returns a list of ``Step`` blocks; a block's ``commands`` are copied as they are.
Interface names used on Windows: "Loopback" (the Microsoft KM-TEST Loopback Adapter, renamed)
and "Ethernet" (the real server's network adapter).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

WIN_LOOPBACK, WIN_NIC = "Loopback", "Ethernet"
SYSCTL_FILE = "/etc/sysctl.d/90-fulcrum-dr.conf"


@dataclass(frozen=True)
class Step:
    title: str
    commands: str  # one or more lines, copied as a whole
    lang: str = "sh"  # sh, powershell, cmd, yaml, ini
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _v6(vip: str) -> bool:
    return ":" in vip


def linux_dr(vip: str) -> list[Step]:
    """Linux real server, DR: never answer ARP for the VIP, accept traffic for it, keep the sysctls.
    Keeping the VIP on lo across reboots is one block per network tool (linux_dr_nmcli, …)."""
    if _v6(vip):
        return [
            Step("Accept traffic for the VIP (now)", f"ip -6 addr add {vip}/128 dev lo"),
            Step("Check", f"ip -6 addr show dev lo | grep '{vip}/128'"),
        ]
    return [
        Step("Never answer ARP for the VIP (now)",
             "sysctl -w net.ipv4.conf.all.arp_ignore=1\nsysctl -w net.ipv4.conf.all.arp_announce=2",
             note="arp_ignore=1: answer ARP only for addresses on the asking interface; arp_announce=2: "
                  "never use the VIP as the source of ARP requests."),
        Step("Accept traffic for the VIP (now)", f"ip addr add {vip}/32 dev lo"),
        Step("Make the sysctls persistent",
             f"cat > {SYSCTL_FILE} <<'EOF'\nnet.ipv4.conf.all.arp_ignore = 1\nnet.ipv4.conf.all.arp_announce = 2\n"
             f"EOF\nsysctl -p {SYSCTL_FILE}"),
        Step("Check", f"ip -4 addr show dev lo | grep '{vip}/32'\n"
                      "sysctl net.ipv4.conf.all.arp_ignore net.ipv4.conf.all.arp_announce"),
    ]


def linux_dr_nmcli(vip: str) -> list[Step]:
    """Keep the VIP on lo with NetworkManager (RHEL, Rocky, Alma, Fedora)."""
    v = "ipv6" if _v6(vip) else "ipv4"
    plen = 128 if _v6(vip) else 32
    return [Step("Keep the VIP on lo across reboots",
                 f"nmcli connection modify lo +{v}.addresses {vip}/{plen}\nnmcli connection up lo",
                 note="NetworkManager 1.42 or later manages lo; on older versions use the ifupdown block or a "
                      "dispatcher script.")]


def linux_dr_netplan(vip: str) -> list[Step]:
    """Keep the VIP on lo with Netplan (Ubuntu)."""
    plen = 128 if _v6(vip) else 32
    return [
        Step("Write /etc/netplan/60-fulcrum-vip.yaml",
             f"network:\n  version: 2\n  ethernets:\n    lo:\n      addresses: [{vip}/{plen}]", lang="yaml"),
        Step("Apply it", "netplan apply"),
    ]


def linux_dr_ifupdown(vip: str) -> list[Step]:
    """Keep the VIP on lo with ifupdown (Debian)."""
    fam, plen = ("-6 ", 128) if _v6(vip) else ("", 32)
    return [Step("Add to /etc/network/interfaces",
                 f"auto lo\niface lo inet loopback\n    up ip {fam}addr add {vip}/{plen} dev lo || true", lang="ini")]


NIC_NOTE = (f'"{WIN_NIC}" is the usual name of the network adapter facing the appliance: if yours differs (see '
            "the Name column of Get-NetAdapter), change it in these commands.")


def windows_dr_powershell(vip: str) -> list[Step]:
    """Windows Server, DR, in PowerShell (as Administrator); the settings persist."""
    plen, fam = (128, "IPv6") if _v6(vip) else (32, "IPv4")
    return [
        Step("Find the names of the network adapters", "Get-NetAdapter | Format-Table Name,InterfaceDescription,Status",
             lang="powershell", note=NIC_NOTE),
        Step("Add a loopback adapter, then name it",
             f'Get-NetAdapter | Where-Object InterfaceDescription -like "*KM-TEST Loopback*" | '
             f'Rename-NetAdapter -NewName "{WIN_LOOPBACK}"', lang="powershell",
             note="First add the adapter: Device Manager › Action › Add legacy hardware › Network adapters › "
                  "Microsoft › Microsoft KM-TEST Loopback Adapter."),
        Step("Put the VIP on the loopback adapter",
             f'New-NetIPAddress -InterfaceAlias "{WIN_LOOPBACK}" -IPAddress {vip} -PrefixLength {plen} '
             "-SkipAsSource $true", lang="powershell",
             note="SkipAsSource keeps Windows from using the VIP for its own outbound traffic."),
        Step("Weak host receive and send",
             f'Set-NetIPInterface -InterfaceAlias "{WIN_NIC}" -AddressFamily {fam} -WeakHostReceive Enabled\n'
             f'Set-NetIPInterface -InterfaceAlias "{WIN_LOOPBACK}" -AddressFamily {fam} -WeakHostReceive Enabled '
             "-WeakHostSend Enabled -DadTransmits 0", lang="powershell",
             note="The network adapter accepts packets for the VIP held by the loopback adapter, and replies "
                  f"leave from the VIP. The loopback adapter never answers ARP. {NIC_NOTE}"),
        Step("Check", f'Get-NetIPAddress -IPAddress {vip}\n'
                      f'Get-NetIPInterface -InterfaceAlias "{WIN_NIC}","{WIN_LOOPBACK}" -AddressFamily {fam} | '
                      "Format-Table InterfaceAlias,WeakHostReceive,WeakHostSend", lang="powershell"),
    ]


def windows_dr_netsh(vip: str) -> list[Step]:
    """Windows Server, DR, with netsh (cmd as Administrator; Server Core); the settings persist."""
    if _v6(vip):
        return [
            Step("VIP on the loopback adapter, weak host receive/send", note=NIC_NOTE, commands=
                 f'netsh interface ipv6 add address "{WIN_LOOPBACK}" {vip}/128 skipassource=true\n'
                 f'netsh interface ipv6 set interface "{WIN_NIC}" weakhostreceive=enabled\n'
                 f'netsh interface ipv6 set interface "{WIN_LOOPBACK}" weakhostreceive=enabled '
                 "weakhostsend=enabled dadtransmits=0", lang="cmd"),
        ]
    return [
        Step("Put the VIP on the loopback adapter",
             f'netsh interface ipv4 add address "{WIN_LOOPBACK}" {vip} 255.255.255.255 skipassource=true',
             lang="cmd"),
        Step("Weak host receive and send", note=NIC_NOTE, lang="cmd", commands=
             f'netsh interface ipv4 set interface "{WIN_NIC}" weakhostreceive=enabled\n'
             f'netsh interface ipv4 set interface "{WIN_LOOPBACK}" weakhostreceive=enabled weakhostsend=enabled '
             "dadtransmits=0"),
        Step("Check", f'netsh interface ipv4 show ipaddresses "{WIN_LOOPBACK}"\n'
                      f'netsh interface ipv4 show interface "{WIN_LOOPBACK}"', lang="cmd"),
    ]


def linux_gateway(gateway: str) -> list[Step]:
    """Linux real server, NAT: the appliance as default gateway, persistently."""
    return [
        Step("Default gateway (now)", f"ip route replace default via {gateway}"),
        Step("Keep it with NetworkManager",
             f'nmcli connection modify "$(nmcli -g GENERAL.CONNECTION device show eth0)" ipv4.gateway {gateway}\n'
             'nmcli connection up "$(nmcli -g GENERAL.CONNECTION device show eth0)"',
             note="Replace eth0 with the interface facing the appliance."),
        Step("Check", "ip route show default"),
    ]


def linux_gateway_netplan(gateway: str) -> list[Step]:
    """Linux real server, NAT, with Netplan (Ubuntu)."""
    return [
        Step("Under the interface facing the appliance in /etc/netplan/*.yaml", f"routes:\n  - to: default\n"
             f"    via: {gateway}", lang="yaml", note="Replace any other default route there."),
        Step("Apply it", "netplan apply"),
    ]


def windows_gateway(gateway: str) -> list[Step]:
    """Windows Server, NAT: the appliance as default gateway."""
    return [
        Step("Default gateway (PowerShell)", note=NIC_NOTE, commands=
             'Get-NetRoute -DestinationPrefix 0.0.0.0/0 | Remove-NetRoute -Confirm:$false\n'
             f'New-NetRoute -InterfaceAlias "{WIN_NIC}" -DestinationPrefix 0.0.0.0/0 -NextHop {gateway}',
             lang="powershell"),
        Step("Check", "Get-NetRoute -DestinationPrefix 0.0.0.0/0", lang="powershell"),
    ]


def windows_gateway_cmd(gateway: str) -> list[Step]:
    """Windows Server, NAT, with route (cmd as Administrator; Server Core)."""
    return [Step("Default gateway", f"route -p change 0.0.0.0 mask 0.0.0.0 {gateway}", lang="cmd"),
            Step("Check", "route print 0.0.0.0", lang="cmd")]


def linux_tun(vip: str) -> list[Step]:
    """Linux real server, IP-in-IP (TUN): decapsulate, hold the VIP on tunl0, let reverse-path filtering pass it."""
    return [
        Step("Terminate the tunnel and hold the VIP (now)",
             f"modprobe ipip\nip addr add {vip}/32 dev tunl0\nip link set tunl0 up"),
        Step("Let reverse-path filtering accept the decapsulated packets",
             "sysctl -w net.ipv4.conf.tunl0.rp_filter=0\nsysctl -w net.ipv4.conf.all.rp_filter=0",
             note="The packets arrive on tunl0 addressed to the VIP, from the client's address."),
        Step("Check", f"ip -4 addr show dev tunl0 | grep '{vip}/32'"),
    ]


def windows_rras_radius(nps_vip: str) -> list[Step]:
    """Each VPN server (RRAS) sends RADIUS to the NPS VIP, not to an NPS directly (PowerShell, as Administrator)."""
    return [
        Step("Use the NPS VIP as the RADIUS server for authentication and accounting",
             f"Add-RemoteAccessRadius -ServerName {nps_vip} -Purpose Authentication "
             "-SharedSecret (Read-Host 'RADIUS shared secret')\n"
             f"Add-RemoteAccessRadius -ServerName {nps_vip} -Purpose Accounting "
             "-SharedSecret (Read-Host 'RADIUS shared secret')",
             lang="powershell",
             note="The secret is the one the NPS servers have for the load balancer as a RADIUS client (with SNAT "
                  "every request reaches them from the load balancer). In the Routing and "
                  "Remote Access console: server › Properties › Security › Authentication provider: RADIUS › "
                  f"Configure › Add, server name {nps_vip}; the same under Accounting provider."),
        Step("Check", "Get-RemoteAccessRadius", lang="powershell"),
    ]


def _ordered(blocks: dict[str, list[Step]], windows_first: bool) -> dict[str, list[Step]]:
    """The real servers' likely OS first (Windows for the Always On VPN services): the page opens it."""
    names = sorted(blocks, key=lambda n: n.startswith("linux") == windows_first)
    return {n: blocks[n] for n in names}


def dr_blocks(vip: str, windows_first: bool = False) -> dict[str, list[Step]]:
    blocks = {"linux": linux_dr(vip), "linux_nmcli": linux_dr_nmcli(vip)}
    if not _v6(vip):
        blocks |= {"linux_netplan": linux_dr_netplan(vip), "linux_ifupdown": linux_dr_ifupdown(vip)}
    blocks |= {"windows_powershell": windows_dr_powershell(vip), "windows_netsh": windows_dr_netsh(vip)}
    return _ordered(blocks, windows_first)


def nat_blocks(gateway: str, windows_first: bool = False) -> dict[str, list[Step]]:
    return _ordered({"linux": linux_gateway(gateway), "linux_netplan": linux_gateway_netplan(gateway),
                     "windows_powershell": windows_gateway(gateway), "windows_netsh": windows_gateway_cmd(gateway)},
                    windows_first)


def tun_blocks(vip: str) -> dict[str, list[Step]]:
    return {"linux": linux_tun(vip)}


def radius_blocks(nps_vip: str) -> dict[str, list[Step]]:
    """What the VPN servers do for an NPS service behind the load balancer."""
    return {"windows_rras": windows_rras_radius(nps_vip)}


BLOCK_TITLES = {"linux": "Linux", "linux_nmcli": "Linux, kept with NetworkManager (nmcli)",
                "linux_netplan": "Linux, kept with Netplan", "linux_ifupdown": "Linux, kept with ifupdown",
                "windows_powershell": "Windows Server (PowerShell)", "windows_netsh": "Windows Server (netsh, cmd)",
                "windows_rras": "Each VPN server, Windows Server (PowerShell)"}
