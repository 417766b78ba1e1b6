"""Interactive ports (issue 26), the wire between hub and landing zone: the hub's limits, a tunnel
request as the agent receives it, and the conventions of the tunnel WebSocket.

A user opens ``/jobs/ID/port/N/`` on the hub; the hub records a tunnel request for the landing
zone holding the job; the zone's agent, long-polling ``/api/v1/lz/tunnels/wait``, connects to the
job's node and port and opens one WebSocket to ``/api/v1/lz/tunnels/{id}``. That WebSocket carries
one TCP connection, byte for byte, in binary messages: nothing on the cluster listens for the hub.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

TUNNEL_ID = r"^[A-Za-z0-9_-]{16,64}$"
EOF_FRAME = b""
"""An empty binary message: the sender will send no more (a TCP half-close); the other way may
still carry bytes."""
NOT_HERE = 4404
"""The close code of a tunnel WebSocket that reached a hub process not waiting for it (several hub
processes behind a balancer): the agent tries again, and may land on the right one."""
REFUSED = 4403
"""The close code when the hub refuses the tunnel (the zone does not hold that job, the wait is over)."""


class PortLimits(BaseModel):
    """``[ports]`` of the hub's configuration file: how much an open port may carry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    idle_s: float = Field(default=600.0, gt=0, le=86400, description=(
        "A connection through a port that carries nothing either way this long is closed."))
    bytes_per_s: int = Field(default=8 << 20, ge=0, description=(
        "The most bytes a second one connection carries each way (0: no limit)."))
    per_job: int = Field(default=64, ge=1, le=10_000, description=(
        "Connections open at once through the ports of one job (a browser opens several)."))
    connect_s: float = Field(default=20.0, gt=0, le=300, description=(
        "How long the hub waits for the landing zone to open a tunnel before answering 504."))
    max_request_bytes: int = Field(default=16 << 20, ge=0, description=(
        "The largest HTTP request body sent through a port (larger: 413)."))
    shared: bool = Field(default=False, description=(
        "Open a job's ports to the Station's other members too (with others_jobs and ports), not only to "
        "the user who submitted it. Its pages are served on the hub's own origin: their scripts act as "
        "whoever opens them, so turn this on only where members trust each other's jobs."))
    recheck_s: float = Field(default=0.5, gt=0, le=60, description=(
        "How often a hub process looks for tunnels that users of other hub processes want (one small read). "
        "On PostgreSQL only while its listening connection is lost: their NOTIFY wakes it at once, and it "
        "looks every wakeup_recheck_s of [hub] as a safety net."))


class TunnelWaitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    wait_s: float = Field(default=25.0, ge=0, le=60)


class TunnelRequest(BaseModel):
    """One connection the hub wants opened: to ``port`` of the job the zone holds as ``job_id``
    under ``attempt``. The agent checks all of it against its own records before connecting."""

    id: str = Field(pattern=TUNNEL_ID)
    job_id: str = Field(pattern=r"^[0-9a-f]{1,32}$")
    attempt: int = Field(ge=1, le=1_000_000)
    port: int = Field(ge=1, le=65535)


class TunnelsOut(BaseModel):
    tunnels: list[TunnelRequest] = Field(default=[], max_length=256)
