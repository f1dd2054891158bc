"""Click parameter types shared by the CLI: a float option that is a real number."""

import math

import click


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that refuses nan and inf (click's own lets them through: nan compares false
    with every bound), so `--rate nan` is a usage error, not a run that sends nothing."""

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


FINITE_FLOAT = FiniteFloatRange()
