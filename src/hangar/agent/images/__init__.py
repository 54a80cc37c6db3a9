"""Container images on a node: the content-addressed blob store, pulls, root file systems."""
