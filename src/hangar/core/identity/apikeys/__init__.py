"""GPU-cloud API keys: a credential kind of the principal model (``X-Api-Key``)."""
