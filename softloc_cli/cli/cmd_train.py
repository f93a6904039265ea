"""`softloc train`."""
