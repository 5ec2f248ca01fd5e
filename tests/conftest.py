"""Root test configuration. Package-specific fixtures live beside their tests."""
