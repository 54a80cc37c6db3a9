"""The ClearML server API face (API 2.31, as the official ``clearml`` SDK and
``clearml-agent`` speak it): endpoints by name (``tasks.create``), the meta envelope, JWT
logins over Hangar keypairs. See shared/specs/clearml-api.md."""
