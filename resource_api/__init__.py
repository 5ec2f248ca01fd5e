"""resource_api package."""
