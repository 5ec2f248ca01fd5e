"""`ANY /api/{path}`: the authenticated, streaming reverse proxy to the resource API."""
