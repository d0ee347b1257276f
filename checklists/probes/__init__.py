"""Checklist probes: pure Python (no Django), run as root by the worker or inside the kernel lab.

``packets``  build and parse Ethernet / ARP / IPv4 / TCP / UDP / ICMP frames
``host``     this host's links, addresses, routes, neighbours, sysctls, conntrack
``engine``   the checks themselves: plain targets in, plain findings out
"""
