"""The file `waxctl dataflow deploy` ships for the user-delete job (see k8s/README.md, "waxctl").

waxctl runs a Python file from a ConfigMap; the job itself is in the cokreat-jobs image
(PYTHONPATH=/app), so this file only names it. Importing builds the dataflow: settings from
JOB_CONFIG_FILE and the environment, as `python -m bytewax.run flows.user_delete` does.
"""

from flows.user_delete import flow  # noqa: F401
