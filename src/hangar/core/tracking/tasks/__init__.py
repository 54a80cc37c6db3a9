"""Projects and tasks of experiment tracking: the status machine, edits, queries, access."""
