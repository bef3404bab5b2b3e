"""The Ray side: starting or joining Ray, deploying experts on Serve, attaching to them, the catalogue."""
