"""The `reactor` command and the offline demo."""
