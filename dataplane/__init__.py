"""Fulcrum's dataplane: pure Python, no Django.

`config` holds the compiler's input (the configuration as plain data),
`state` the desired kernel state, `compiler` turns one into the other,
`render` prints it as ipvsadm/iptables text, and the drivers apply it.
"""
