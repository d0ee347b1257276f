"""The WebUI keeps no tables of its own: failed logins are counted by django-axes (accounts/throttle.py)."""
