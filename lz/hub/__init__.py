"""The hub: Stations users submit to and landing zones pull from, over HTTP.

``lz.hub.server.app`` (FastAPI, imported only by ``lz hub serve``), ``lz.hub.agent.client`` (requests),
``lz.hub.agent.agent`` (the landing zone's side). Nothing here is imported by ``lz --help``.
"""
