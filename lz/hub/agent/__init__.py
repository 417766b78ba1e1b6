"""What runs inside lz run --hub: the agent that claims and reports jobs, its outbox, the HTTP and login clients, pilots and drain. Never imports the server."""
