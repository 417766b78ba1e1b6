"""The wire between hub server, landing-zone agent and client commands (imports nothing of lz.hub)."""
