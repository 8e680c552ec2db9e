"""IOLoop-flavoured manager and restarter classes."""
