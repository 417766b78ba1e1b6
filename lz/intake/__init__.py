"""The one door for new jobs: bundles and their streaming tar reader, the job's spec file, capacity checks, and receiving a job into the store."""
