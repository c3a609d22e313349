"""Loading, profiling and splitting the user's data."""
