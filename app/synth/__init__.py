"""Synthetic NHS hospital episodes and adult social care extracts for London, with the truth.

The public surface: :func:`write_extracts` (what ``hsclink synth`` runs),
:func:`generate` (the same population in memory) and their results. Everything
is drawn from one seeded ``numpy.random.Generator``, so (persons, seed,
reference date) fixes every byte. No real person's data is used: names, dates
and postcodes are drawn from shipped frequency tables (``app/synth/data``), and
NHS numbers from a keyed permutation. The truth file labels each record with the
error kinds it carries (:data:`ERROR_KINDS`); :func:`with_error_rate` raises one
kind's rate, for a small population that tests linkage on that kind.
"""

from app.synth.extracts import SynthReport, write_extracts
from app.synth.generator import PersonRecords, Synth, generate, iter_households
from app.synth.noise import ASC_NOISE, ERROR_KINDS, NHS_NOISE, NoiseProfile, with_error_rate
from app.synth.people import Person

__all__ = [
    "ASC_NOISE",
    "ERROR_KINDS",
    "NHS_NOISE",
    "NoiseProfile",
    "Person",
    "PersonRecords",
    "Synth",
    "SynthReport",
    "generate",
    "iter_households",
    "with_error_rate",
    "write_extracts",
]
