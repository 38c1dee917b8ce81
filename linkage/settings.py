"""The knobs of a linkage run, validated once; the defaults are the tested configuration."""

from __future__ import annotations

from dataclasses import dataclass

from linkage.blocking import BlockingRule, LshRule

__all__ = ["DEFAULT_RULES", "EXACT_TOP_K", "LinkageSettings"]

#: Every exact rule but the NHS number's keeps each record's 5 nearest partners in a
#: block (``BlockingRule.top_k``), so no rule can give a record more than 5 partners as
#: chooser however common its key grows. Measured (synthetic London, seed 1): at 200,000
#: and 2,000,000 persons it drops 1 and 1,645 of 37,516 and 1,144,682 pairs, and pairwise
#: precision and F1 are unchanged to five places (3 drops 7,608 at 2,000,000, also
#: unchanged): today's keys make small blocks, and the bound is for keys that would not.
EXACT_TOP_K = 5

DEFAULT_RULES: tuple[BlockingRule | LshRule, ...] = (
    BlockingRule("nhs_number", ("tok_nhs_number",)),
    BlockingRule("dob+family_phonetic", ("tok_dob", "tok_family_phonetic"), top_k=EXACT_TOP_K),
    BlockingRule(
        "birth_year+given_phonetic+family_phonetic",
        ("tok_dob_year", "tok_given_phonetic", "tok_family_phonetic"),
        top_k=EXACT_TOP_K,
    ),
    BlockingRule("dob+given_phonetic", ("tok_dob", "tok_given_phonetic"), top_k=EXACT_TOP_K),
    BlockingRule("postcode+birth_year", ("tok_postcode", "tok_dob_year"), top_k=EXACT_TOP_K),
    LshRule(
        "lsh(given+family+dob)",
        ("bloom_given_name", "bloom_family_name", "bloom_dob"),
        max_bucket=20,
        min_dice=0.8,
        top_k=2,
    ),
    BlockingRule(
        "given_phonetic+family_phonetic+postcode_sector",
        ("tok_given_phonetic", "tok_family_phonetic", "tok_postcode_sector"),
        train=False,
        top_k=EXACT_TOP_K,
    ),
    BlockingRule(
        "family_name+postcode",
        ("tok_family_name", "tok_postcode"),
        train=False,
        top_k=EXACT_TOP_K,
    ),
    LshRule(
        "lsh(given+family) by sex+district",
        ("bloom_given_name", "bloom_family_name"),
        bands=12,
        bits=20,
        max_bucket=20,
        min_dice=0.8,
        top_k=2,
        partition=("tok_sex", "tok_postcode_district"),
        train=False,
    ),
    # A record with neither date of birth nor NHS number, at an address the person's other
    # records do not share (a care home), has only its names: at 200,000 persons, seed 1,
    # recall of records without a date of birth 96.45 % -> 97.26 % for 84 pairs, pairwise
    # precision 0.99967 -> 0.99962. Without ``one_lacks`` (every same-named pair in the
    # population) it cost 30 false links among namesakes, precision 0.99940.
    BlockingRule(
        "given_name+family_name+sex, one without dob or nhs_number",
        ("tok_given_name", "tok_family_name", "tok_sex"),
        train=False,
        one_lacks=("tok_dob", "tok_nhs_number"),
        top_k=EXACT_TOP_K,
    ),
)


@dataclass(frozen=True)
class LinkageSettings:
    """How to link.

    ``threshold_weight``: link pairs whose match weight is at least this; ``None`` (the
    default) lets the model choose the weight that maximises its own estimate of
    pairwise F1 (see ``scoring.choose_threshold``), raised by ``margin_per_doubling`` bits
    for each doubling of the profiles beyond ``engine.MARGIN_FROM_PROFILES`` (50,000):
    the weights treat fields as independent, and same-named strangers born alike, whom
    they overrate, grow with the population (measured on synthetic London, seed 1: at
    2,000,000 persons, 666,000 profiles, the model's own threshold gave pairwise
    precision 0.99737 and F1 0.99852, the margin of 7.5 bits 0.99958 and 0.99948 (LSH
    ``top_k`` 5; 0.99970 and 0.99950 with the default 2); at 200,000 persons, 67,000
    profiles, the margin is 0.8 bits).
    ``contradiction_weight``: a pair sharing an NHS number is an exact link unless the
    rest of its evidence sums below this weight (bits), in which case it is left to the
    probabilistic model.
    ``m_floor``: every level's fitted m is at least this (then renormalised), so a
    kind of error the training pairs rarely show (a partial or swapped date of birth in
    records without an NHS number) costs a bounded weight, not -13 bits.
    ``incremental``: with a previous assignment, keep existing persons as they are (never
    merged or split); ``False`` re-clusters everything and carries ids by overlap.
    """

    rules: tuple[BlockingRule | LshRule, ...] = DEFAULT_RULES
    max_block: int = 2000
    u_sample_pairs: int = 1_000_000
    em_max_iterations: int = 100
    em_tolerance: float = 1e-5
    em_start_prior: float = 0.3
    m_floor: float = 1e-3
    term_frequency: bool = True
    threshold_weight: float | None = None
    margin_per_doubling: float = 2.0
    contradiction_weight: float = -15.0
    incremental: bool = True
    histogram_range: tuple[float, float] = (-40.0, 60.0)
    histogram_bin: float = 2.0

    def __post_init__(self) -> None:
        if not self.rules or len(self.rules) > 30:
            raise ValueError("between 1 and 30 blocking rules")
        if len({r.name for r in self.rules}) != len(self.rules):
            raise ValueError("blocking rule names are unique")
        if self.max_block < 2 or self.u_sample_pairs < 1000:
            raise ValueError("max_block >= 2 and u_sample_pairs >= 1000")
        if self.em_max_iterations < 1 or not 0 < self.em_tolerance < 1:
            raise ValueError("EM needs an iteration and a tolerance in (0, 1)")
        if not 0 <= self.margin_per_doubling <= 8:
            raise ValueError("margin_per_doubling lies in [0, 8] bits")
        if not 0 <= self.m_floor < 0.1:
            raise ValueError("m_floor lies in [0, 0.1)")
        if not 0 < self.em_start_prior < 1:
            raise ValueError("em_start_prior lies in (0, 1)")
        low, high = self.histogram_range
        if not low < high or self.histogram_bin <= 0:
            raise ValueError("a histogram range low < high and a positive bin")
