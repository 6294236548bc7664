"""The file `waxctl dataflow deploy` ships for the content-auto-creator job (see k8s/README.md, "waxctl").

waxctl runs a Python file from a ConfigMap; the job itself is in the cokreat-jobs image
(PYTHONPATH=/app), so this file only names it. Importing builds the dataflow: settings from
JOB_CONFIG_FILE and the environment, as `python -m bytewax.run flows.content_auto_creator` does.
"""

from flows.content_auto_creator import flow  # noqa: F401
