"""The Prometheus series every job exports (README, "Metrics").

Declared once per process in the default registry, which bytewax serves on
``:3030/metrics`` when ``BYTEWAX_DATAFLOW_API_ENABLED`` is set.
"""

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("cokreat_events", "Events by final outcome.", ["job", "outcome"])
HTTP_REQUESTS = Counter("cokreat_http_requests", "HTTP calls to Sunbird services by answer code "
                        "(or 'error' when no answer came).", ["job", "service", "code"])
HTTP_SECONDS = Histogram("cokreat_http_request_seconds", "Duration of one HTTP call.", ["job", "service"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
RETRIES = Counter("cokreat_retries", "HTTP calls repeated after a retryable answer.", ["job", "service"])
IN_FLIGHT = Gauge("cokreat_in_flight", "Events being handled right now.", ["job"])
DISK_RESERVED = Gauge("cokreat_download_disk_reserved_bytes", "Bytes of download.disk_budget_bytes that downloads "
                      "going to disk hold right now.", ["job"])
DISK_WAITS = Counter("cokreat_download_disk_waits", "Downloads that waited for room in download.disk_budget_bytes.",
                     ["job"])
