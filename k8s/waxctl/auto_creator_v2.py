"""The file `waxctl dataflow deploy` ships for the auto-creator-v2 job (see k8s/README.md, "waxctl").

waxctl runs a Python file from a ConfigMap; the job itself is in the cokreat-jobs image
(PYTHONPATH=/app), so this file only names it. Importing builds the dataflow: settings from
JOB_CONFIG_FILE and the environment, as `python -m bytewax.run flows.auto_creator_v2` does.
"""

from flows.auto_creator_v2 import flow  # noqa: F401
