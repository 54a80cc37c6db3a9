"""Labels ClearML users give their credentials (``auth.*_credentials``)."""
