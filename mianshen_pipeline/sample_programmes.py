"""Sample records of the programmes behind several benefits, for the synthetic population.

The generators build disability certificates, unemployment insurance contributions,
employment registrations, graduates, dishonesty lists and martyrs. ``generate_world`` in
``mianshen_pipeline.sample`` calls them once it has built persons, enterprises, marriages,
births and deaths, and each gets its own seeded ``random.Random``, so the records are
deterministic. Records hold canonical values, like the rest of ``SampleWorld``.

Shares, distributions and wages are estimates chosen to look like Shanghai's registers. They
are not official statistics.
"""

from __future__ import annotations

import datetime
import math
import random
from decimal import Decimal

from mianshen_pipeline.sample import (
    DAUGHTER,
    DEATH_WINDOW_DAYS,
    FEMALE,
    HEAD,
    MALE,
    SON,
    SPOUSE,
    _pick,
    _random_day,
    _years_after,
    age_on,
)

# --- Months -------------------------------------------------------------------------------------

INSURANCE_MONTHS = 24
EMPLOYMENT_MONTHS = 12


def _month_index(day: datetime.date) -> int:
    """Return the number of months since year 0, so that consecutive months differ by 1."""
    return day.year * 12 + day.month - 1


def _month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _weighted_sample(rng: random.Random, weights: list[float], count: int) -> list[int]:
    """Return ``count`` positions drawn without replacement, in proportion to ``weights``.

    Uses Efraimidis-Spirakis keys. Positions whose weight is 0 are never drawn.
    """
    keys = [(math.log(1.0 - rng.random()) / weight, position)
            for position, weight in enumerate(weights) if weight > 0]
    keys.sort(reverse=True)
    return [position for _, position in keys[:count]]


# --- Disability certificates --------------------------------------------------------------------

DISABILITY_SHARE = 0.025
# A second-generation certificate number has 20 characters: the 18-character ID, then the
# category code and the grade code (1 to 4), as the China Disabled Persons' Federation numbers
# them nationwide.
DISABILITY_CATEGORY_DIGITS = {"vision": "1", "hearing": "2", "speech": "3", "physical": "4",
                              "intellectual": "5", "mental": "6", "multiple": "7"}
CERTIFICATE_VALID_YEARS = 10
# Relative chance of holding a certificate by age band: disability becomes more common with age.
_DISABILITY_AGE_WEIGHTS = ((2, 17, 0.35), (18, 44, 0.6), (45, 59, 1.0), (60, 74, 1.6),
                           (75, 120, 2.6))
_CATEGORY_WEIGHTS_CHILD = (("intellectual", 35), ("mental", 8), ("physical", 20),
                           ("hearing", 14), ("speech", 9), ("vision", 5), ("multiple", 9))
_CATEGORY_WEIGHTS_ADULT = (("physical", 45), ("vision", 13), ("hearing", 11), ("speech", 1.5),
                           ("intellectual", 9), ("mental", 15), ("multiple", 5.5))
_CATEGORY_WEIGHTS_ELDER = (("physical", 46), ("vision", 20), ("hearing", 21), ("speech", 1),
                           ("intellectual", 2), ("mental", 4), ("multiple", 6))
# Grades 1 (most severe) to 4. Milder grades are the most common.
_GRADE_WEIGHTS = (("1", 11), ("2", 17), ("3", 30), ("4", 42))
# A certificate of a person who died recently is still listed, because cancellation lags.
_CERTIFICATE_CANCELLATION_LAG_DAYS = 90


def _disability_weight(age: int) -> float:
    for low, high, weight in _DISABILITY_AGE_WEIGHTS:
        if low <= age <= high:
            return weight
    return 0.0


def _valid_until(rng: random.Random, as_of: datetime.date) -> datetime.date:
    """Return an expiry day: a few expired in the past year, a few expiring soon, most later."""
    draw = rng.random()
    if draw < 0.05:
        return _random_day(rng, as_of - datetime.timedelta(days=365),
                           as_of - datetime.timedelta(days=1))
    if draw < 0.09:
        return _random_day(rng, as_of, as_of + datetime.timedelta(days=120))
    return _random_day(rng, as_of + datetime.timedelta(days=121),
                       _years_after(as_of, CERTIFICATE_VALID_YEARS))


def make_disability_certificates(
    rng: random.Random, persons: list[dict], deaths: list[dict], as_of: datetime.date
) -> list[dict]:
    """Issue certificates to about ``DISABILITY_SHARE`` of persons, older persons more often."""
    died = {death["id_no"]: death["date_of_death"] for death in deaths}
    cancelled_before = as_of - datetime.timedelta(days=_CERTIFICATE_CANCELLATION_LAG_DAYS)
    weights = []
    for person in persons:
        death = died.get(person["id_no"])
        alive = death is None or death >= cancelled_before
        weights.append(_disability_weight(age_on(person["birth_date"], as_of)) if alive else 0)
    count = round(DISABILITY_SHARE * len(persons))
    certificates = []
    for position in _weighted_sample(rng, weights, count):
        person = persons[position]
        age = age_on(person["birth_date"], as_of)
        if age < 18:
            category = _pick(rng, _CATEGORY_WEIGHTS_CHILD)
        elif age < 60:
            category = _pick(rng, _CATEGORY_WEIGHTS_ADULT)
        else:
            category = _pick(rng, _CATEGORY_WEIGHTS_ELDER)
        grade = _pick(rng, _GRADE_WEIGHTS)
        certificates.append({
            "id_no": person["id_no"],
            "certificate_no": person["id_no"] + DISABILITY_CATEGORY_DIGITS[category] + grade,
            "category": category,
            "grade": grade,
            "valid_until": _valid_until(rng, as_of),
        })
    certificates.sort(key=lambda c: c["certificate_no"])
    return certificates


# --- Unemployment insurance ---------------------------------------------------------------------

# Headcount of a newly insured enterprise, by size class. Large enterprises reach 3,000 here.
HEADCOUNT_RANGES = {"micro": (1, 9), "small": (10, 99), "medium": (100, 299),
                    "large": (300, 3000)}
UNEMPLOYMENT_PREMIUM_RATE = Decimal("0.005")
AVERAGE_WAGE = 12_000
# Contribution bases lie between 60 % and 300 % of the average wage.
_BASE_RANGE = (0.6 * AVERAGE_WAGE, 3.0 * AVERAGE_WAGE)
_MISSED_MONTHS_SHARE = 0.05
# (share of enterprises, smallest cut, largest cut) of the layoffs in the previous year.
_LAYOFFS = ((0.05, 0.08, 0.16), (0.02, 0.25, 0.6))
# Variance of the monthly headcount change, as a share of the headcount.
_HEADCOUNT_CHURN = 0.012


def _initial_headcount(rng: random.Random, size: str) -> int:
    """Return a log-uniform headcount within the size class, so smaller counts are more common."""
    low, high = HEADCOUNT_RANGES[size]
    return min(high, int(math.exp(rng.uniform(math.log(low), math.log(high + 1)))))


def _headcounts(
    rng: random.Random, size: str, first: int, last: int, as_of: datetime.date
) -> dict[int, int]:
    """Return the month-end insured headcount of one enterprise from month ``first`` to ``last``.

    The headcount drifts with hires and departures and a trend of the enterprise's own. Some
    enterprises cut staff in one month of the previous calendar year.
    """
    headcount = _initial_headcount(rng, size)
    trend = rng.gauss(0.001, 0.002)
    layoff_month, layoff_cut = None, 0.0
    december_before_last = (as_of.year - 2) * 12 + 11
    draw = rng.random()
    # Only an enterprise insured in December two years back can show a layoff rate.
    if first <= december_before_last:
        for share, low, high in _LAYOFFS:
            if draw < share:
                layoff_month = december_before_last + rng.randint(1, 12)
                layoff_cut = rng.uniform(low, high)
                break
            draw -= share
    counts = {}
    for month in range(first, last + 1):
        if month > first:
            change = rng.gauss(trend * headcount, math.sqrt(_HEADCOUNT_CHURN * headcount))
            headcount = max(1, headcount + round(change))
        if month == layoff_month:
            headcount = max(1, headcount - max(1, round(headcount * layoff_cut)))
        counts[month] = headcount
    return counts


def _premium(rng: random.Random, headcount: int, base: float) -> Decimal:
    """Return the premium of a month in yuan, with two decimals."""
    yuan = headcount * base * float(UNEMPLOYMENT_PREMIUM_RATE) * (1 + rng.gauss(0, 0.02))
    return Decimal(max(0, round(yuan * 100))).scaleb(-2)


def make_insured_headcounts(
    rng: random.Random, enterprises: list[dict], as_of: datetime.date
) -> dict[str, dict[int, int]]:
    """Return the month-end insured headcount of each active enterprise, by month index.

    The months run from ``INSURANCE_MONTHS`` months before the month of ``as_of`` to that month
    itself, so they cover the whole previous calendar year and December two years back. An
    enterprise is insured from the month after it was established. About
    ``_MISSED_MONTHS_SHARE`` of enterprises miss one to three months, which have no entry.
    """
    last = _month_index(as_of)
    window_first = last - INSURANCE_MONTHS
    headcounts = {}
    for enterprise in enterprises:
        if enterprise["status"] != "active":
            continue
        first = max(window_first, _month_index(enterprise["established_on"]) + 1)
        if first > last:
            continue
        counts = _headcounts(rng, enterprise["size"], first, last, as_of)
        if rng.random() < _MISSED_MONTHS_SHARE:
            gap_start = rng.randint(first, last)
            for month in range(gap_start, min(last, gap_start + rng.randint(0, 2)) + 1):
                del counts[month]
        headcounts[enterprise["uscc"]] = counts
    return headcounts


def make_unemployment_insurance(
    rng: random.Random, headcounts: dict[str, dict[int, int]], as_of: datetime.date
) -> list[dict]:
    """Build one contribution per enterprise and insured month before the month of ``as_of``.

    The premium of the month of ``as_of`` is not paid yet, so it has no row. Each enterprise
    pays on an average contribution base of its own.
    """
    current = _month_index(as_of)
    rows = []
    for code, counts in headcounts.items():
        mean_base = AVERAGE_WAGE * rng.lognormvariate(-0.35 ** 2 / 2, 0.35)
        base = min(_BASE_RANGE[1], max(_BASE_RANGE[0], mean_base))
        for month, headcount in counts.items():
            if month >= current:
                continue
            rows.append({
                "uscc": code,
                "month": _month_label(month),
                "insured_headcount": headcount,
                "premium_paid": _premium(rng, headcount, base),
            })
    rows.sort(key=lambda r: (r["uscc"], r["month"]))
    return rows


# --- Graduates ----------------------------------------------------------------------------------

# Share of persons born in Shanghai's recent cohorts who finish college or university.
TERTIARY_SHARE = 0.72
GRADUATE_AGES = (20, 36)
_FIRST_LEVELS = (("college", 30), ("bachelor", 70))
# Years of study after senior school (12 years after entering primary school) and the share
# of each level's graduates who go on to the next level.
_STUDY_YEARS = {"college": (3,), "bachelor": (4,), "master": (2, 3, 3), "doctor": (3, 4, 4, 5)}
_NEXT_LEVEL = {"college": ("bachelor", 0.15), "bachelor": ("master", 0.28),
               "master": ("doctor", 0.12)}
# Shares of master's and doctor's degrees awarded in January, the winter graduation.
_WINTER_SHARE = {"master": 0.1, "doctor": 0.3}


def _graduation_day(rng: random.Random, level: str, year: int) -> datetime.date:
    """Return a graduation day in ``year``: mostly late June or early July."""
    if rng.random() < _WINTER_SHARE.get(level, 0.0):
        return datetime.date(year, 1, rng.randint(5, 20))
    if level == "college":
        return datetime.date(year, 6, rng.randint(10, 30))
    if level == "bachelor":
        return datetime.date(year, 6, 20) + datetime.timedelta(days=rng.randint(0, 15))
    return datetime.date(year, 6, rng.randint(10, 30))


def _delay_years(rng: random.Random) -> int:
    """Return the years lost to repeating a year or a gap, usually none."""
    return rng.choices((0, 1, 2), (85, 12, 3))[0]


def make_graduates(
    rng: random.Random, persons: list[dict], deaths: list[dict], as_of: datetime.date
) -> list[dict]:
    """Build graduation records of persons aged ``GRADUATE_AGES`` on ``as_of``.

    Children who are 6 by 31 August start school that September and finish senior school 12
    years later. A degree that is not awarded by ``as_of`` is left out, because its student
    has not graduated yet, and so are the levels after it.
    """
    died = {death["id_no"]: death["date_of_death"] for death in deaths}
    graduates = []
    for person in persons:
        birth = person["birth_date"]
        if not GRADUATE_AGES[0] <= age_on(birth, as_of) <= GRADUATE_AGES[1]:
            continue
        if rng.random() >= TERTIARY_SHARE:
            continue
        school_start = birth.year + 6 + (1 if birth.month >= 9 else 0)
        year = school_start + 12 + _delay_years(rng)
        level = _pick(rng, _FIRST_LEVELS)
        ends = min(as_of, died.get(person["id_no"], as_of))
        while True:
            year += rng.choice(_STUDY_YEARS[level])
            graduated_on = _graduation_day(rng, level, year)
            if graduated_on > ends:
                break
            graduates.append({"id_no": person["id_no"], "graduated_on": graduated_on,
                              "level": level})
            next_level, share = _NEXT_LEVEL.get(level, (None, 0.0))
            if next_level is None or rng.random() >= share:
                break
            level = next_level
            year += _delay_years(rng)
    graduates.sort(key=lambda g: (g["graduated_on"], g["id_no"], g["level"]))
    return graduates


# --- Employment registrations -------------------------------------------------------------------

# Maximum share of an enterprise's lowest headcount in the window that residents of the sample
# fill, because most of its staff live elsewhere.
RESIDENT_SHARE_OF_HEADCOUNT = 0.3
# Age at which insured employment ends. NOTE: women workers often retire at 50, which the lower
# employment shares from 50 stand for, and the gradual delay of retirement from 2025 is not
# modelled.
RETIREMENT_AGES = {MALE: 60, FEMALE: 55}
# Share of persons insured by a Changning enterprise, by age band and gender.
_EMPLOYMENT_SHARES = (
    (16, 17, 0.02, 0.02), (18, 22, 0.14, 0.12), (23, 29, 0.50, 0.48), (30, 44, 0.50, 0.45),
    (45, 49, 0.45, 0.36), (50, 54, 0.40, 0.14), (55, 59, 0.30, 0.0),
)
# Patterns of persons who were working before the window: a stayer keeps one employer, a
# leaver stops, a changer moves to another employer and a returner starts after a break.
_PATTERNS = (("stayer", 92), ("leaver", 4.5), ("changer", 2), ("returner", 1.5))
_YOUNG_PATTERNS = (("stayer", 55), ("leaver", 12), ("changer", 18), ("returner", 15))
YOUNG_AGES = (16, 24)


def _employment_share(age: int, gender: str) -> float:
    for low, high, men, women in _EMPLOYMENT_SHARES:
        if low <= age <= high:
            return men if gender == MALE else women
    return 0.0


def _take_employer(
    pool: list[str], first_insured: dict[str, int], start: int, exclude: str | None
) -> str | None:
    """Remove and return the last slot of ``pool`` whose employer was insured by ``start``.

    The employer ``exclude`` is skipped, so that a person who changes jobs moves to another
    employer. Returns None if no slot fits.
    """
    for position in range(len(pool) - 1, -1, -1):
        code = pool[position]
        if code != exclude and first_insured[code] <= start:
            return pool.pop(position)
    return None


def _career_start(
    rng: random.Random, birth: datetime.date, graduated_on: datetime.date | None
) -> int:
    """Return the month of a person's first insured job, after school or graduation."""
    if graduated_on is not None:
        return _month_index(graduated_on) + 1 + rng.randint(0, 3)
    age = rng.choice((16, 17, 18, 18, 19, 20))
    return _month_index(_years_after(birth, age)) + rng.randint(0, 11)


def _spells(
    rng: random.Random, person: dict, graduated_on: datetime.date | None, first: int, last: int,
    as_of: datetime.date,
) -> list[tuple[int, int]]:
    """Return the insured spells of one person as (first month, last month) pairs, or none."""
    birth = person["birth_date"]
    age = age_on(birth, as_of)
    if rng.random() >= _employment_share(age, person["gender"]):
        return []
    start = _career_start(rng, birth, graduated_on)
    if start > last:
        return []
    if start > first:
        end = last if rng.random() < 0.9 else rng.randint(start, last)
        return [(start, end)]
    young = YOUNG_AGES[0] <= age <= YOUNG_AGES[1]
    pattern = _pick(rng, _YOUNG_PATTERNS if young else _PATTERNS)
    if pattern == "leaver":
        return [(first, rng.randint(first, last - 1))]
    if pattern == "changer":
        switch = rng.randint(first, last - 1)
        return [(first, switch), (switch + rng.choice((1, 1, 1, 2)), last)]
    if pattern == "returner":
        return [(rng.randint(first + 1, last), last)]
    return [(first, last)]


def make_employment_records(
    rng: random.Random, persons: list[dict], deaths: list[dict], graduates: list[dict],
    headcounts: dict[str, dict[int, int]], as_of: datetime.date,
) -> list[dict]:
    """Build one record per person, employer and insured month for ``EMPLOYMENT_MONTHS`` months.

    The months end with the month of ``as_of``, whose registrations are known by then although
    its premiums are not paid yet. ``headcounts`` comes from ``make_insured_headcounts``.

    Each enterprise gets slots for residents: ``RESIDENT_SHARE_OF_HEADCOUNT`` of its lowest
    headcount in the window, rounded down but at least one. So no month has more records than
    the enterprise's insured headcount. A spell goes to an employer insured from the spell's
    first month on, so an enterprise that starts paying within the window gets only new hires.
    Records stop at retirement and death and skip months the employer was not insured.
    Graduates start work one to four months after their last graduation, which makes many new
    hires young.
    """
    last = _month_index(as_of)
    first = last - EMPLOYMENT_MONTHS + 1
    insured = {}
    for code, counts in headcounts.items():
        in_window = {month: count for month, count in counts.items() if month >= first}
        if in_window:
            insured[code] = in_window
    first_insured = {code: min(counts) for code, counts in insured.items()}
    pool = []
    for code, counts in insured.items():
        slots = max(1, int(RESIDENT_SHARE_OF_HEADCOUNT * min(counts.values())))
        pool += [code] * slots
    rng.shuffle(pool)
    died = {death["id_no"]: death["date_of_death"] for death in deaths}
    last_graduation: dict[str, datetime.date] = {}
    for graduate in graduates:
        last_graduation[graduate["id_no"]] = max(
            graduate["graduated_on"], last_graduation.get(graduate["id_no"], datetime.date.min))
    records = []
    for person in persons:
        id_no = person["id_no"]
        spells = _spells(rng, person, last_graduation.get(id_no), first, last, as_of)
        retirement = _years_after(person["birth_date"], RETIREMENT_AGES[person["gender"]])
        final = min(last, _month_index(retirement) - 1)
        if id_no in died:
            final = min(final, _month_index(died[id_no]))
        employer = None
        for start, end in spells:
            employer = _take_employer(pool, first_insured, start, employer)
            if employer is None:
                break
            counts = insured[employer]
            for month in range(start, min(end, final) + 1):
                if month in counts:
                    records.append({"id_no": id_no, "uscc": employer,
                                    "month": _month_label(month)})
    records.sort(key=lambda r: (r["month"], r["uscc"], r["id_no"]))
    return records


# --- Dishonesty lists ---------------------------------------------------------------------------

DISHONEST_ENTERPRISE_SHARE = 0.01
DISHONEST_ADULT_SHARE = 0.002
LISTING_YEARS = 6
_ENTERPRISE_LISTS = (("失信被执行人名单", 55), ("严重违法失信名单", 30),
                     ("重大税收违法失信主体名单", 15))
_PERSON_LISTS = (("失信被执行人名单", 92), ("重大税收违法失信主体名单", 8))
# Revoked enterprises are often listed for failing to file annual reports.
_ENTERPRISE_STATUS_WEIGHTS = {"active": 1.0, "revoked": 6.0, "deregistered": 0.3,
                              "moved_out": 0.3}
_REMOVED_SHARE = 0.3
_RELISTED_SHARE = 0.1


def _listings(
    rng: random.Random, subject_type: str, subject_id: str, lists: tuple[tuple[str, float], ...],
    earliest: datetime.date, as_of: datetime.date,
) -> list[dict]:
    """Return the listings of one subject: a current one and sometimes an earlier removed one."""
    yesterday = as_of - datetime.timedelta(days=1)
    listed_on = _random_day(rng, earliest, yesterday)
    removed_on = None
    if rng.random() < _REMOVED_SHARE and (yesterday - listed_on).days > 30:
        removed_on = _random_day(rng, listed_on + datetime.timedelta(days=30), yesterday)
    listings = [{"subject_type": subject_type, "subject_id": subject_id,
                 "list_name": _pick(rng, lists), "listed_on": listed_on,
                 "removed_on": removed_on}]
    if rng.random() < _RELISTED_SHARE and (listed_on - earliest).days > 60:
        earlier = _random_day(rng, earliest, listed_on - datetime.timedelta(days=60))
        listings.append({"subject_type": subject_type, "subject_id": subject_id,
                         "list_name": _pick(rng, lists), "listed_on": earlier,
                         "removed_on": _random_day(rng, earlier + datetime.timedelta(days=30),
                                                   listed_on - datetime.timedelta(days=1))})
    return listings


def make_dishonest_entities(
    rng: random.Random, persons: list[dict], enterprises: list[dict], as_of: datetime.date
) -> list[dict]:
    """List about 1 % of enterprises and 0.2 % of adults in the last ``LISTING_YEARS`` years."""
    window_start = as_of - datetime.timedelta(days=365 * LISTING_YEARS)
    entries = []
    weights = [_ENTERPRISE_STATUS_WEIGHTS.get(e["status"], 1.0) for e in enterprises]
    count = max(1, round(DISHONEST_ENTERPRISE_SHARE * len(enterprises))) if enterprises else 0
    for position in _weighted_sample(rng, weights, count):
        enterprise = enterprises[position]
        earliest = max(window_start, enterprise["established_on"] + datetime.timedelta(days=90))
        if earliest < as_of - datetime.timedelta(days=1):
            entries += _listings(rng, "legal_entity", enterprise["uscc"], _ENTERPRISE_LISTS,
                                 earliest, as_of)
    adults = [p for p in persons if age_on(p["birth_date"], as_of) >= 20]
    # Debtors aged 30 to 59 are the most common on the lists.
    weights = [2.0 if 30 <= age_on(p["birth_date"], as_of) <= 59 else 1.0 for p in adults]
    for position in _weighted_sample(rng, weights, round(DISHONEST_ADULT_SHARE * len(adults))):
        person = adults[position]
        earliest = max(window_start, _years_after(person["birth_date"], 18))
        entries += _listings(rng, "person", person["id_no"], _PERSON_LISTS, earliest, as_of)
    entries.sort(key=lambda e: (e["listed_on"], e["subject_type"], e["subject_id"]))
    return entries


# --- Martyrs ------------------------------------------------------------------------------------

PERSONS_PER_MARTYR = 5000
# At least three, so that one defective ID in the file leaves most IDs valid.
MIN_MARTYRS = 3
MARTYR_AGES = (22, 55)
# Recognition takes one to twelve months after the death.
_RECOGNITION_DAYS = (30, 365)


def _linked_children(
    persons: list[dict], members: list[int], position: int, certified: dict[str, set[str]]
) -> set[str]:
    """Return the IDs of the children that the kinship theme links to one person.

    The household register links the head's 子 and 女, and a birth certificate links the
    child to its mother and father. ``certified`` maps each parent's ID to those children.
    """
    children = set(certified.get(persons[position]["id_no"], ()))
    if persons[position]["relation_to_head"] == HEAD:
        children.update(persons[i]["id_no"] for i in members
                        if persons[i]["relation_to_head"] in (SON, DAUGHTER))
    return children


def _martyr_candidates(
    persons: list[dict], members_of: list[list[int]], marriages: list[dict], births: list[dict],
    dead: set[str], as_of: datetime.date,
) -> list[tuple[int, int]]:
    """Return (martyr, spouse) positions of living married persons with linked children.

    The marriage must be registered and not ended by a divorce, and the spouse must live in
    the same household.
    """
    divorced = {(m["party_a_id"], m["party_b_id"]) for m in marriages if m["kind"] == "divorce"}
    married = {(m["party_a_id"], m["party_b_id"]) for m in marriages
               if m["kind"] == "marriage"} - divorced
    certified: dict[str, set[str]] = {}
    for birth in births:
        for key in ("mother_id_no", "father_id_no"):
            if birth[key]:
                certified.setdefault(birth[key], set()).add(birth["child_id_no"])
    candidates = []
    for members in members_of:
        couple = [i for i in members if persons[i]["relation_to_head"] in (HEAD, SPOUSE)]
        if len(couple) != 2:
            continue
        for position, spouse in (couple, couple[::-1]):
            person = persons[position]
            if person["id_no"] in dead:
                continue
            if not MARTYR_AGES[0] <= age_on(person["birth_date"], as_of) <= MARTYR_AGES[1]:
                continue
            pair = (person["id_no"], persons[spouse]["id_no"])
            if person["gender"] == FEMALE:
                pair = pair[::-1]
            if pair in married and _linked_children(persons, members, position, certified):
                candidates.append((position, spouse))
    return candidates


def make_martyrs(
    rng: random.Random, persons: list[dict], members_of: list[list[int]], marriages: list[dict],
    births: list[dict], deaths: list[dict], last_event: dict[int, datetime.date],
    as_of: datetime.date,
) -> tuple[list[dict], list[dict]]:
    """Choose martyrs among married parents and return the martyrs and their death records.

    There is one martyr per ``PERSONS_PER_MARTYR`` persons, at least ``MIN_MARTYRS`` where
    enough candidates exist, nine in ten of them men. Each died within the death records'
    window, after their last registration or child's birth, and was recognised later.

    Args:
        members_of: the positions in ``persons`` of each household's members, head first.
        last_event: each person's latest marriage registration or child's birth, by position.
    """
    dead = {death["id_no"] for death in deaths}
    candidates = _martyr_candidates(persons, members_of, marriages, births, dead, as_of)
    weights = [9.0 if persons[position]["gender"] == MALE else 1.0 for position, _ in candidates]
    count = max(MIN_MARTYRS, round(len(persons) / PERSONS_PER_MARTYR))
    first_day = as_of - datetime.timedelta(days=DEATH_WINDOW_DAYS)
    latest_death = as_of - datetime.timedelta(days=_RECOGNITION_DAYS[0] + 1)
    martyrs, death_records = [], []
    for choice in _weighted_sample(rng, weights, len(candidates)):
        if len(martyrs) >= count:
            break
        position = candidates[choice][0]
        person = persons[position]
        after = last_event.get(position, person["birth_date"])
        earliest = max(first_day, after + datetime.timedelta(days=1))
        if earliest > latest_death:
            continue
        died_on = _random_day(rng, earliest, latest_death)
        recognised_on = _random_day(
            rng, died_on + datetime.timedelta(days=_RECOGNITION_DAYS[0]),
            min(as_of - datetime.timedelta(days=1),
                died_on + datetime.timedelta(days=_RECOGNITION_DAYS[1])))
        martyrs.append({"martyr_id_no": person["id_no"], "name": person["name"],
                        "died_on": died_on, "recognised_on": recognised_on})
        death_records.append({"id_no": person["id_no"], "name": person["name"],
                              "date_of_death": died_on})
    martyrs.sort(key=lambda m: (m["recognised_on"], m["martyr_id_no"]))
    return martyrs, death_records
