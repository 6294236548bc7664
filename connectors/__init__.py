"""I/O at the edges of the jobs: Kafka, HTTP. No job rules live here."""
