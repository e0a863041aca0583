"""``make bench``: mmer's fast paths timed beside the reference way (how the seed code works), in one run."""
