"""The wire between the hub server, the landing zone's agent and the client commands. Imports nothing else of lz.hub."""
