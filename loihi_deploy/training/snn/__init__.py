"""Directly trained spiking controllers (predictive control, Huebotter et al.; docs/snn_control.md)."""
