"""Reference tables no maintained package provides, each with its source in the file."""
