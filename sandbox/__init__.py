"""Local stand-ins for what the jobs talk to: the embedded Kafka broker and the Sunbird APIs."""
