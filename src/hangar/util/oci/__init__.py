"""The OCI image formats and distribution API (pulls of container images)."""
