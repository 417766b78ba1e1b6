"""Prometheus metrics, fed by listeners (``lz.core.events``): the landing zone's (``zone``), the hub's
(``hub``), and the HTTP endpoint both serve them from (``server``). Each takes a registry, so one
process can serve several sets from one ``/metrics``."""
