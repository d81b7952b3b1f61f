"""Certificates across provinces (matter CERT): accepted at one node, checked and issued at the hukou node."""
