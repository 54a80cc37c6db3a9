"""The remote agent: a node served over HTTP/WebSocket to a manager, and the manager's proxy."""
