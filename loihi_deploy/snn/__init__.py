"""Directly trained spiking controllers (predictive control, Huebotter et al.; REFERENCE 4)."""
