"""lz's Python API: submit jobs, follow them and collect their results from Python, on this
machine's landing zone or on a hub (docs/python-api.md)::

    from lz.client import Client

    client = Client()                        # or Client(hub="https://hub.example", token="~/.config/lz/token")
    job = client.submit("job-folder", cpus=2, time="10:00")
    job.wait(timeout=3600).results("out")

Light to import: nothing of the hub's server, and the database or HTTP code only when used.
"""

from lz.client.api import Client, Job, JobList
from lz.client.errors import Error, NotFound, Refused, Rejected, Timeout, Unavailable

__all__ = ["Client", "Error", "Job", "JobList", "NotFound", "Refused", "Rejected", "Timeout", "Unavailable"]
