"""Command-line tools for operators (``python -m tools.<name>``); no job imports them."""
