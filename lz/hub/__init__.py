"""The hub: Stations users submit to and landing zones pull from, over HTTP.

``lz.hub.server`` (FastAPI, imported only by ``lz hub serve``), ``lz.hub.client`` (requests),
``lz.hub.agent`` (the landing zone's side). Nothing here is imported by ``lz --help``.
"""
