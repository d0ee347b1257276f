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
    """Linux real server, DR: never answer ARP for the VIP, accept traffic for it, persistently."""
    if _v6(vip):
        return [
            Step("Accept traffic for the VIP (now)", f"ip -6 addr add {vip}/128 dev lo"),
            Step("Make it persistent (NetworkManager)", f"nmcli connection modify lo +ipv6.addresses {vip}/128\n"
                 "nmcli connection up lo"),
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
        Step("Make the VIP on lo persistent (NetworkManager: RHEL, Rocky, Alma)",
             f"nmcli connection modify lo +ipv4.addresses {vip}/32\nnmcli connection up lo",
             note="NetworkManager 1.42+ manages lo; older versions: use a dispatcher script or the ifupdown "
                  "variant."),
        Step("…or with Netplan (Ubuntu): add to /etc/netplan/60-fulcrum-vip.yaml, then netplan apply",
             f"network:\n  version: 2\n  ethernets:\n    lo:\n      addresses: [{vip}/32]", lang="yaml"),
        Step("…or with ifupdown (Debian): add to /etc/network/interfaces",
             f"auto lo\niface lo inet loopback\n    up ip addr add {vip}/32 dev lo || true", lang="ini"),
        Step("Check", f"ip -4 addr show dev lo | grep '{vip}/32'\n"
                      "sysctl net.ipv4.conf.all.arp_ignore net.ipv4.conf.all.arp_announce"),
    ]


def windows_dr_powershell(vip: str) -> list[Step]:
    """Windows Server, DR, in PowerShell (as Administrator); the settings persist."""
    plen, fam = (128, "IPv6") if _v6(vip) else (32, "IPv4")
    return [
        Step("Add a loopback adapter",
             "# Device Manager > Action > Add legacy hardware > Network adapters > Microsoft > "
             "Microsoft KM-TEST Loopback Adapter\n"
             f'Get-NetAdapter | Where-Object InterfaceDescription -like "*KM-TEST Loopback*" | '
             f'Rename-NetAdapter -NewName "{WIN_LOOPBACK}"', lang="powershell"),
        Step("Put the VIP on the loopback adapter",
             f'New-NetIPAddress -InterfaceAlias "{WIN_LOOPBACK}" -IPAddress {vip} -PrefixLength {plen} '
             "-SkipAsSource $true", lang="powershell",
             note="SkipAsSource keeps Windows from using the VIP for its own outbound traffic."),
        Step("Weak host receive and send",
             f'Set-NetIPInterface -InterfaceAlias "{WIN_NIC}" -AddressFamily {fam} -WeakHostReceive Enabled\n'
             f'Set-NetIPInterface -InterfaceAlias "{WIN_LOOPBACK}" -AddressFamily {fam} -WeakHostReceive Enabled '
             "-WeakHostSend Enabled -DadTransmits 0", lang="powershell",
             note="The network adapter accepts packets for the VIP held by the loopback adapter, and replies "
                  "leave from the VIP. The loopback adapter never answers ARP."),
        Step("Check", f'Get-NetIPAddress -IPAddress {vip}\n'
                      f'Get-NetIPInterface -InterfaceAlias "{WIN_NIC}","{WIN_LOOPBACK}" -AddressFamily {fam} | '
                      "Format-Table InterfaceAlias,WeakHostReceive,WeakHostSend", lang="powershell"),
    ]


def windows_dr_netsh(vip: str) -> list[Step]:
    """Windows Server, DR, with netsh (cmd as Administrator; Server Core); the settings persist."""
    if _v6(vip):
        return [
            Step("VIP on the loopback adapter, weak host receive/send",
                 f'netsh interface ipv6 add address "{WIN_LOOPBACK}" {vip}/128 skipassource=true\n'
                 f'netsh interface ipv6 set interface "{WIN_NIC}" weakhostreceive=enabled\n'
                 f'netsh interface ipv6 set interface "{WIN_LOOPBACK}" weakhostreceive=enabled '
                 "weakhostsend=enabled dadtransmits=0", lang="cmd"),
        ]
    return [
        Step("Put the VIP on the loopback adapter",
             f'netsh interface ipv4 add address "{WIN_LOOPBACK}" {vip} 255.255.255.255 skipassource=true',
             lang="cmd"),
        Step("Weak host receive and send",
             f'netsh interface ipv4 set interface "{WIN_NIC}" weakhostreceive=enabled\n'
             f'netsh interface ipv4 set interface "{WIN_LOOPBACK}" weakhostreceive=enabled weakhostsend=enabled '
             "dadtransmits=0", lang="cmd"),
        Step("Check", f'netsh interface ipv4 show ipaddresses "{WIN_LOOPBACK}"\n'
                      f'netsh interface ipv4 show interface "{WIN_LOOPBACK}"', lang="cmd"),
    ]


def linux_gateway(gateway: str) -> list[Step]:
    """Linux real server, NAT: the appliance as default gateway, persistently."""
    return [
        Step("Default gateway (now)", f"ip route replace default via {gateway}"),
        Step("Make it persistent (NetworkManager)",
             f'nmcli connection modify "$(nmcli -g GENERAL.CONNECTION device show eth0)" ipv4.gateway {gateway}\n'
             'nmcli connection up "$(nmcli -g GENERAL.CONNECTION device show eth0)"',
             note="Replace eth0 with the interface facing the appliance."),
        Step("…or with Netplan (Ubuntu)", f"routes:\n  - to: default\n    via: {gateway}", lang="yaml"),
        Step("Check", "ip route show default"),
    ]


def windows_gateway(gateway: str) -> list[Step]:
    """Windows Server, NAT: the appliance as default gateway."""
    return [
        Step("Default gateway (PowerShell)",
             'Get-NetRoute -DestinationPrefix 0.0.0.0/0 | Remove-NetRoute -Confirm:$false\n'
             f'New-NetRoute -InterfaceAlias "{WIN_NIC}" -DestinationPrefix 0.0.0.0/0 -NextHop {gateway}',
             lang="powershell"),
        Step("…or with route (cmd)", f"route -p change 0.0.0.0 mask 0.0.0.0 {gateway}", lang="cmd"),
        Step("Check", "Get-NetRoute -DestinationPrefix 0.0.0.0/0", lang="powershell"),
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


def dr_blocks(vip: str) -> dict[str, list[Step]]:
    return {"linux": linux_dr(vip), "windows_powershell": windows_dr_powershell(vip),
            "windows_netsh": windows_dr_netsh(vip)}


def nat_blocks(gateway: str) -> dict[str, list[Step]]:
    return {"linux": linux_gateway(gateway), "windows_powershell": windows_gateway(gateway)}


BLOCK_TITLES = {"linux": "Linux", "windows_powershell": "Windows Server (PowerShell)",
                "windows_netsh": "Windows Server (netsh)"}


def commands(steps: list[Step]) -> list[str]:
    """The steps as a flat list of command lines (for callers that show commands only)."""
    return [line for s in steps for line in s.commands.splitlines()]
