"""Placeholder until the adversarial issue lands."""


class SeqGANObjective:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("SeqGANObjective is not implemented yet")
