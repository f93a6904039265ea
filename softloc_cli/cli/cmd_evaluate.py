"""`softloc evaluate`."""
