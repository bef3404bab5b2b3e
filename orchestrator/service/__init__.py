"""The HTTP service on Ray Serve (ingress, remote client, web page)."""
