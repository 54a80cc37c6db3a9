"""The only modules that import the events' tables: rows in, the metrics part's values out.

Bulk writes run as one prepared statement over many parameter tuples (``executemany``) on the
driver, bypassing per-row ORM and Core work: a batch of thousands of points is one call."""
