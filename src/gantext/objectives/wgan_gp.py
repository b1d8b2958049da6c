"""Placeholder until the adversarial issue lands."""


class WGANGPObjective:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("WGANGPObjective is not implemented yet")
