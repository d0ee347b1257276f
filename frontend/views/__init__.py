"""The WebUI's views, one module per menu."""
