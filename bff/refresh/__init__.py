"""Access-token refresh: the refresher and where its results (and lock) live."""
