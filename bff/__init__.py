"""bff package."""
