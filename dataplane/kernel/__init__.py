"""Kernel drivers (no Django): IPVS over generic netlink, netfilter, addresses, sysctls.

``KernelDriver`` applies ``dataplane.diff`` ops to this host's kernel; ``RenderOnlyDriver``
has the same interface and only records (hosts without IPVS); ``ipvs_available()`` says
which one to use.
"""

from dataplane.kernel.driver import ApplyResult, IpvsTable, KernelDriver, RenderOnlyDriver, ipvs_available

__all__ = ["ApplyResult", "IpvsTable", "KernelDriver", "RenderOnlyDriver", "ipvs_available"]
