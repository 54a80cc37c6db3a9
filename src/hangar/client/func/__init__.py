"""Function classes: the documented API calls, grouped by the object they act on."""
