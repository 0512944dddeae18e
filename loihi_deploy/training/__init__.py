"""Training: SB3 TD3/SAC policies (train), DAgger pixel distillation (distill) and directly
trained spiking controllers (snn). Built on the product layers below; the product imports
only what it needs to load what training wrote."""
