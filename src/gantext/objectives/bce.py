"""Placeholder until the adversarial issue lands."""


class BCEObjective:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("BCEObjective is not implemented yet")
