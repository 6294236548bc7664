"""The shared runtime of the jobs: settings, the dataflow, outcomes, the sink, health, logs."""
