"""`softloc models`."""
