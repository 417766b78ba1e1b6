"""The pure core: a job, its lifecycle table, the rules of the tick, resources, volumes, events and errors. Imports nothing else of lz and does no I/O."""
