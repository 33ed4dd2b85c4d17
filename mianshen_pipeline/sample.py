"""Deterministic sample drops: a synthetic Changning population and the files departments send.

``generate_world`` builds the truth as plain records with canonical values (18-character ID
numbers, ``datetime.date`` objects, canonical codes). ``write_drops`` renders that truth the way
each department delivers it: its own file format, header wording, encoding, date style and code
labels, with valid surface variation (15-digit IDs, full-width digits, a lower-case x) and a
small share of tagged defects. ``write_dataset`` writes hand-made rows in any accepted format.
The records of benefit programmes (disability certificates, unemployment insurance,
employment, graduates, dishonesty lists and martyrs) are built in ``sample_programmes``.

Every random choice comes from ``random.Random`` instances seeded from the arguments, so the same
arguments give byte-identical files. Nothing iterates over a set, whose order would change with
the interpreter's hash seed.

The population is synthetic. Its shape (age pyramid, household sizes, mortality rising with age)
imitates Shanghai's registered population, but the weights are estimates, not census figures.
"""

from __future__ import annotations

import calendar
import csv
import datetime
import io
import json
import math
import random
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from itertools import accumulate
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter
from stdnum import luhn
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from mianshen_pipeline.contracts import FORMATS, ColumnType, DatasetContract, load_contracts
from mianshen_pipeline.geography import (
    COMMUNITIES,
    DISTRICT_CODE,
    DISTRICT_NAME,
    OUTSIDE_SHANGHAI,
    ROADS,
    SHANGHAI_DISTRICTS,
    SHANGHAI_STREETS,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
HEADER_STYLES = ("english", "chinese")
CSV_ENCODINGS = ("utf-8", "utf-8-sig", "gb18030")
DEFECTS_FILE = "sample_defects.json"

# --- Reference data for names, banks and enterprises -------------------------------------------

_SURNAMES = (
    "王李张刘陈杨黄赵周吴徐孙朱马胡郭林何高梁郑罗宋谢唐韩曹许邓萧冯曾程蔡彭潘袁于董余苏叶吕魏蒋"
    "田杜丁沈姜范江傅钟卢汪戴崔任陆廖姚方金邱夏谭韦贾邹石熊孟秦阎薛侯雷白龙段郝孔邵史毛常万顾赖"
    "武康贺严尹钱施牛洪龚"
)
# Listed in national frequency order. Weights fall with rank, which approximates that order.
_SURNAME_CUM_WEIGHTS = list(accumulate(100 / (rank + 4) for rank in range(len(_SURNAMES))))
_COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官")
_COMPOUND_SURNAME_SHARE = 0.003
_MALE_GIVEN = (
    "伟刚勇毅俊峰强军平保东文辉力明永健世广志义兴良海山仁波宁贵福生龙元全国胜学祥才发武新利清飞"
    "彬富顺信子杰涛昌成康星光天达安岩中茂进林有坚和彪博诚先敬震振壮会思群豪心邦承乐绍功松善厚庆"
    "磊民友裕河哲江超浩亮政谦亨奇固之轮翰朗伯宏言若鸣朋斌梁栋维启克伦翔旭鹏泽晨辰士以建家致树炎"
    "德行时泰盛雄琛钧冠策腾楠榕风航弘"
)
_FEMALE_GIVEN = (
    "秀娟英华慧巧美娜静淑惠珠翠雅芝玉萍红娥玲芬芳燕彩春菊兰凤洁梅琳素云莲真环雪荣爱妹霞香月莺媛"
    "艳瑞凡佳嘉琼勤珍贞莉桂娣叶璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓仪荷丹蓉眉君琴"
    "蕊薇菁梦岚苑婕馨琰韵园艺咏卿澜纯毓悦昭冰爽琬茗羽希欣滢馥筠柔竹凝晓欢霄枫芸菲寒伊亚宜可舒"
)
_SINGLE_GIVEN_SHARE = 0.22


@dataclass(frozen=True)
class _Bank:
    name: str
    card_bin: str
    basic_account_digits: int
    weight: float


# NOTE: the BINs are debit-card prefixes from public BIN lists and the basic-account lengths are
# typical for each bank. Neither is checked against the banks' current issuing rules.
_BANKS = (
    _Bank("中国工商银行", "622202", 19, 20),
    _Bank("中国建设银行", "621700", 20, 16),
    _Bank("中国农业银行", "622848", 19, 12),
    _Bank("中国银行", "621661", 12, 12),
    _Bank("交通银行", "622262", 21, 10),
    _Bank("上海农商银行", "622478", 15, 10),
    _Bank("上海银行", "622892", 14, 10),
    _Bank("招商银行", "621483", 15, 10),
)
_BANK_CUM_WEIGHTS = list(accumulate(bank.weight for bank in _BANKS))

_TRADE_NAME_CHARS = (
    "鼎盛华信宏达恒通嘉禾金泰瑞丰汇源博远天成祥和永安新联创智云帆星辰锦程东方立德昊明卓越富邦宝隆"
    "美途乐享优品佳境润泽启航志诚凯易道合众"
)
_INDUSTRIES = (
    "信息科技", "网络科技", "商务咨询", "餐饮管理", "文化传播", "贸易", "建筑装饰工程", "物业管理",
    "医疗器械", "教育科技", "广告", "企业管理咨询", "物流", "电子商务", "设计", "投资管理",
    "健康管理", "酒店管理",
)
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

# Relative resident population of the ten streets: an estimate for sampling, not census data.
_STREET_WEIGHTS = {
    "310105001": 8, "310105002": 5, "310105004": 9, "310105005": 8, "310105006": 9,
    "310105008": 10, "310105009": 9, "310105010": 4, "310105011": 8, "310105102": 16,
}

# Birth-place area codes (the first six digits of an ID number) other than Changning.
_SHANGHAI_BIRTHPLACES = ("310101", "310104", "310106", "310107", "310109", "310110", "310112",
                         "310115")
_OUTSIDE_BIRTHPLACES = tuple(OUTSIDE_SHANGHAI)

HEAD, SPOUSE, SON, DAUGHTER, FATHER, MOTHER, GRANDSON, GRANDDAUGHTER = (
    "户主", "配偶", "子", "女", "父亲", "母亲", "孙子", "孙女"
)
_CHILD_RELATIONS = (SON, DAUGHTER, GRANDSON, GRANDDAUGHTER)
MALE, FEMALE = "1", "2"

# Household kinds with their share of households, tuned so that about 20 % of persons are 65+.
_HOUSEHOLD_KINDS = (
    ("single", 0.13), ("couple", 0.12), ("one_child", 0.22), ("two_children", 0.07),
    ("with_parents", 0.07), ("elder_single", 0.11), ("elder_couple", 0.12),
    ("elder_with_grandchild", 0.06), ("single_parent", 0.04), ("elder_with_child", 0.06),
)
_HOUSEHOLD_CUM_WEIGHTS = list(accumulate(weight for _, weight in _HOUSEHOLD_KINDS))

# Age bands of persons aged 65 and over, with weights: a few centenarians in every 20 000.
_ELDER_BANDS = (
    (65, 69, 30), (70, 74, 27), (75, 79, 18), (80, 84, 12), (85, 89, 8), (90, 94, 3.5),
    (95, 99, 1.2), (100, 105, 0.15),
)
_ELDER_CUM_WEIGHTS = list(accumulate(weight for *_, weight in _ELDER_BANDS))

DEATHS_PER_PERSON_YEAR = 0.008
DEATH_WINDOW_DAYS = 730
# Mortality doubles about every 8 years of age (Gompertz law), so the rate grows by ln 2 / 8.
_GOMPERTZ_RATE = math.log(2) / 8
MARRIAGE_WINDOW_YEARS = 10
MIN_MARRIAGE_AGE = {MALE: 22, FEMALE: 20}
CARD_SHARE = 0.95
CHILD_CERTIFICATE_AGE = 6
# Oldest age of the younger parent at a child's birth in generated households.
MAX_PARENT_AGE_AT_BIRTH = 42
# Ages at which men and women get the one-off reward for parents of an only child.
ONLY_CHILD_REWARD_AGES = {MALE: 60, FEMALE: 55}

_CARD_STATUS_WEIGHTS = (("normal", 93), ("inactive", 3), ("lost", 2), ("cancelled", 1.5),
                        ("frozen", 0.5))
_SIZE_WEIGHTS = (("micro", 68), ("small", 24), ("medium", 6), ("large", 2))
_STATUS_WEIGHTS = (("active", 88), ("deregistered", 7), ("revoked", 3), ("moved_out", 2))


@dataclass
class SampleWorld:
    """Generated truth: plain records keyed by contract column names, with canonical values.

    The records never contain defects. ``write_drops`` applies surface variation and defects
    to copies while it writes.
    """

    persons: list[dict]
    deaths: list[dict]
    marriages: list[dict]
    births: list[dict]
    cards: list[dict]
    enterprises: list[dict]
    addresses: list[dict]
    as_of: datetime.date | None = None
    disability_certificates: list[dict] = field(default_factory=list)
    unemployment_insurance: list[dict] = field(default_factory=list)
    employment_records: list[dict] = field(default_factory=list)
    graduates: list[dict] = field(default_factory=list)
    dishonest_entities: list[dict] = field(default_factory=list)
    martyrs: list[dict] = field(default_factory=list)


# --- Small helpers ------------------------------------------------------------------------------


def today_in_shanghai() -> datetime.date:
    """Return today's date in Asia/Shanghai."""
    return datetime.datetime.now(SHANGHAI).date()


def _years_before(day: datetime.date, years: int) -> datetime.date:
    """Return the same calendar day ``years`` earlier, with 29 February becoming the 28th."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _years_after(day: datetime.date, years: int) -> datetime.date:
    return _years_before(day, -years)


def age_on(birth_date: datetime.date, day: datetime.date) -> int:
    """Return the age in whole years on ``day``."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - before_birthday


def _random_day(rng: random.Random, first: datetime.date, last: datetime.date) -> datetime.date:
    """Return a uniformly random day from ``first`` to ``last``, both included."""
    return first + datetime.timedelta(days=rng.randint(0, max(0, (last - first).days)))


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([value for value, _ in weighted], [w for _, w in weighted])[0]


def _month_shift(year: int, month: int, shift: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + shift
    return index // 12, index % 12 + 1


@cache
def _area_valid(area: str, year: int) -> bool:
    """Return whether python-stdnum accepts ``area`` as the birth place of someone born in ``year``.

    ``stdnum.cn.ric`` rejects an area code that did not exist in the birth year, for example
    310115 (Pudong, created 1992) for someone born in 1960.
    """
    try:
        ric.get_birth_place(f"{area}{year:04d}01010000")
    except ValidationError:
        return False
    return True


class _IdIssuer:
    """Issuer of unique, valid 18-character resident ID numbers (GB 11643-1999)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._issued: set[str] = set()

    def issue(self, area: str, birth_date: datetime.date, gender: str) -> str:
        """Return a new ID: area code, birth date, a sequence whose last digit is odd for men."""
        stem = f"{area}{birth_date.year:04d}{birth_date.month:02d}{birth_date.day:02d}"
        parity = 1 if gender == MALE else 0
        for _ in range(2000):
            body = f"{stem}{self._rng.randrange(500) * 2 + parity:03d}"
            if body not in self._issued:
                self._issued.add(body)
                # calc_check_digit ignores the last character of its argument.
                return body + ric.calc_check_digit(body + "0")
        raise RuntimeError(f"no free sequence number left for area {area} on {birth_date}")


def _birthplace(rng: random.Random, hukou_region: str, birth_year: int) -> str:
    """Choose the birth-place area code of a person, valid for the birth year."""
    draw = rng.random()
    if hukou_region == DISTRICT_CODE:
        # In this sample, most Changning residents born since 2000 have a Changning area code.
        preferred = DISTRICT_CODE if draw < (0.95 if birth_year >= 2000 else 0.72) else None
        pool = _SHANGHAI_BIRTHPLACES if draw < 0.90 else _OUTSIDE_BIRTHPLACES
    else:
        preferred = hukou_region if draw < 0.75 else None
        pool = _SHANGHAI_BIRTHPLACES if draw < 0.90 else _OUTSIDE_BIRTHPLACES
    if preferred and _area_valid(preferred, birth_year):
        return preferred
    # Both pools contain codes valid for every birth year, such as 310101 and 110105.
    valid = [area for area in pool if _area_valid(area, birth_year)]
    return rng.choice(valid)


def _surname(rng: random.Random) -> str:
    if rng.random() < _COMPOUND_SURNAME_SHARE:
        return rng.choice(_COMPOUND_SURNAMES)
    return rng.choices(_SURNAMES, cum_weights=_SURNAME_CUM_WEIGHTS)[0]


def _given_name(rng: random.Random, gender: str) -> str:
    pool = _MALE_GIVEN if gender == MALE else _FEMALE_GIVEN
    if rng.random() < _SINGLE_GIVEN_SHARE:
        return rng.choice(pool)
    return rng.choice(pool) + rng.choice(pool)


# --- Addresses ----------------------------------------------------------------------------------


def _street_choices() -> tuple[list[str], list[float]]:
    codes = list(_STREET_WEIGHTS)
    return codes, list(accumulate(_STREET_WEIGHTS[code] for code in codes))


def _address_text(rng: random.Random, street_code: str) -> str:
    road = rng.choice(ROADS[street_code])
    room = f"{rng.randint(1, 18)}{rng.randint(1, 6):02d}"
    if rng.random() < 0.7:
        return f"{DISTRICT_NAME}{road}{rng.randint(1, 1800)}弄{rng.randint(1, 80)}号{room}室"
    return f"{DISTRICT_NAME}{road}{rng.randint(1, 2500)}号{room}室"


def _make_addresses(rng: random.Random, count: int) -> list[dict]:
    """Build ``count`` unique standard addresses, at least five in every street."""
    codes, cum_weights = _street_choices()
    streets = [code for code in codes for _ in range(5)]
    streets += rng.choices(codes, cum_weights=cum_weights, k=max(0, count - len(streets)))
    seen: set[str] = set()
    addresses = []
    for number, street_code in enumerate(streets, start=10_000_001):
        text = _address_text(rng, street_code)
        while text in seen:
            text = _address_text(rng, street_code)
        seen.add(text)
        addresses.append({
            "address_id": f"CN{DISTRICT_CODE}{number:08d}",
            "address": text,
            "street_code": street_code,
            "community": rng.choice(COMMUNITIES[street_code]),
        })
    return addresses


# --- Households and persons ---------------------------------------------------------------------

Member = tuple[str, str, int]  # relation to head, gender code, age on as_of


def _elder_age(rng: random.Random) -> int:
    low, high, _ = rng.choices(_ELDER_BANDS, cum_weights=_ELDER_CUM_WEIGHTS)[0]
    return rng.randint(low, high)


def _couple(rng: random.Random, head_age: int, min_age: int = 23) -> list[Member]:
    """Return a head and spouse. Husbands are usually a few years older than their wives."""
    gap = round(rng.gauss(2, 3))
    if rng.random() < 0.75:
        return [(HEAD, MALE, head_age), (SPOUSE, FEMALE, max(min_age, head_age - gap))]
    return [(HEAD, FEMALE, head_age), (SPOUSE, MALE, max(min_age, head_age + gap))]


def _child_age(rng: random.Random, oldest: int, youngest: int = 0) -> int:
    """Return a child's age from ``youngest`` to ``oldest``.

    Under-sixes are thinned to match Shanghai's low births.
    """
    age = rng.randint(youngest, oldest)
    if age < CHILD_CERTIFICATE_AGE and oldest >= CHILD_CERTIFICATE_AGE and rng.random() < 0.55:
        age = rng.randint(CHILD_CERTIFICATE_AGE, oldest)
    return age


def _children(rng: random.Random, parent_ages: list[int], count: int) -> list[Member]:
    """Return children born when the youngest of ``parent_ages`` was 22 to 42 years old.

    Children are at most 30, so this holds for parents up to 72.
    """
    oldest = max(0, min(30, min(parent_ages) - 22))
    youngest = min(oldest, max(0, min(parent_ages) - MAX_PARENT_AGE_AT_BIRTH))
    members = []
    for _ in range(count):
        gender = rng.choice((MALE, FEMALE))
        age = _child_age(rng, oldest, youngest)
        members.append((SON if gender == MALE else DAUGHTER, gender, age))
    return members


def _household_members(rng: random.Random, kind: str) -> list[Member]:
    """Return the members of one household of the given kind, head first."""
    if kind == "single":
        return [(HEAD, rng.choice((MALE, FEMALE)), rng.randint(20, 64))]
    if kind == "couple":
        return _couple(rng, rng.randint(24, 64))
    if kind in ("one_child", "two_children"):
        # Couples of up to 62 still live with an adult only child, as is common in Shanghai.
        members = _couple(rng, rng.randint(26, 62 if kind == "one_child" else 58))
        return members + _children(rng, [m[2] for m in members], 1 if kind == "one_child" else 2)
    if kind == "with_parents":
        return _with_parents(rng)
    if kind == "elder_single":
        return [(HEAD, FEMALE if rng.random() < 0.65 else MALE, _elder_age(rng))]
    if kind == "elder_couple":
        return _couple(rng, min(_elder_age(rng), 98), min_age=60)
    if kind == "elder_with_grandchild":
        return _elder_with_grandchild(rng)
    if kind == "single_parent":
        head = (HEAD, FEMALE if rng.random() < 0.8 else MALE, rng.randint(28, 52))
        return [head] + _children(rng, [head[2]], 1)
    if kind == "elder_with_child":
        head = (HEAD, rng.choice((MALE, FEMALE)), _elder_age(rng))
        gender = rng.choice((MALE, FEMALE))
        child_age = max(20, head[2] - rng.randint(24, 34))
        return [head, (SON if gender == MALE else DAUGHTER, gender, child_age)]
    raise ValueError(f"unknown household kind {kind!r}")


def _with_parents(rng: random.Random) -> list[Member]:
    members = _couple(rng, rng.randint(30, 52))
    if rng.random() < 0.7:
        members += _children(rng, [m[2] for m in members], 1)
    head_age = members[0][2]
    parents = [(FATHER, MALE, head_age + rng.randint(26, 34)),
               (MOTHER, FEMALE, head_age + rng.randint(24, 31))]
    members += parents if rng.random() < 0.5 else [rng.choice(parents)]
    return members


def _elder_with_grandchild(rng: random.Random) -> list[Member]:
    head_age = rng.randint(58, 64) if rng.random() < 0.4 else min(_elder_age(rng), 88)
    members = _couple(rng, head_age, min_age=55) if rng.random() < 0.7 else [
        (HEAD, rng.choice((MALE, FEMALE)), head_age)]
    if rng.random() < 0.4:
        gender = rng.choice((MALE, FEMALE))
        child_age = head_age - rng.randint(25, 32)
        members.append((SON if gender == MALE else DAUGHTER, gender, child_age))
    for _ in range(1 if rng.random() < 0.75 else 2):
        gender = rng.choice((MALE, FEMALE))
        members.append((GRANDSON if gender == MALE else GRANDDAUGHTER, gender, _child_age(rng, 16)))
    return members


def _birth_date(rng: random.Random, as_of: datetime.date, age: int) -> datetime.date:
    """Return a birth date that makes the person ``age`` years old on ``as_of``."""
    latest = _years_before(as_of, age)
    return latest - datetime.timedelta(days=rng.randrange(365))


@dataclass
class _Household:
    members: list[int]
    hukou_region: str
    street_code: str | None
    household_id: str
    address: str


def _household_place(rng: random.Random) -> tuple[str, str | None]:
    """Choose hukou region and street code: about 90 % Changning, the rest elsewhere."""
    codes, cum_weights = _street_choices()
    draw = rng.random()
    if draw < 0.90:
        return DISTRICT_CODE, rng.choices(codes, cum_weights=cum_weights)[0]
    if draw < 0.97:
        district = rng.choice(list(SHANGHAI_DISTRICTS))
        streets = list(SHANGHAI_STREETS.get(district, {}))
        return district, rng.choice(streets) if streets and rng.random() < 0.6 else None
    return rng.choice(list(OUTSIDE_SHANGHAI)), None


def _make_households(
    rng: random.Random, count: int, as_of: datetime.date, addresses: list[dict]
) -> tuple[list[dict], list[_Household]]:
    """Build ``count`` persons grouped into households, without names and ID numbers yet."""
    by_street: dict[str, list[str]] = {}
    for address in addresses:
        by_street.setdefault(address["street_code"], []).append(address["address"])
    all_addresses = [address["address"] for address in addresses]
    kinds = [kind for kind, _ in _HOUSEHOLD_KINDS]
    persons: list[dict] = []
    households: list[_Household] = []
    serial = rng.randint(1, 50_000)
    while len(persons) < count:
        kind = rng.choices(kinds, cum_weights=_HOUSEHOLD_CUM_WEIGHTS)[0]
        members = _household_members(rng, kind)[: count - len(persons)]
        hukou_region, street_code = _household_place(rng)
        serial += rng.randint(1, 40)
        # People registered elsewhere live in Changning, so their address is a Changning one.
        address_pool = by_street.get(street_code) or all_addresses
        household = _Household([], hukou_region, street_code, f"{hukou_region}{serial:09d}",
                               rng.choice(address_pool))
        for relation, gender, age in members:
            household.members.append(len(persons))
            persons.append({
                "id_no": None,
                "name": None,
                "gender": gender,
                "birth_date": _birth_date(rng, as_of, age),
                "hukou_region": hukou_region,
                "street_code": street_code,
                "household_id": household.household_id,
                "relation_to_head": relation,
                "address": household.address,
            })
        households.append(household)
    return persons, households


def _pin_special_birth_dates(
    rng: random.Random, persons: list[dict], as_of: datetime.date
) -> set[int]:
    """Move some birth dates to the cases that age rules get wrong, and return their positions.

    One person per leap year is born on 29 February, and two persons turn 65 in each month
    from twelve months before ``as_of`` to twelve months after, where anyone was born in the
    year needed. Only the month and day change, so each person keeps the birth year and the
    household stays plausible.
    """
    by_year: dict[int, list[int]] = {}
    for index, person in enumerate(persons):
        by_year.setdefault(person["birth_date"].year, []).append(index)
    pinned: set[int] = set()

    def pin(year: int, month: int, day: int) -> None:
        candidates = [i for i in by_year.get(year, []) if i not in pinned]
        if candidates:
            index = rng.choice(candidates)
            pinned.add(index)
            persons[index]["birth_date"] = datetime.date(year, month, day)

    for year in range(as_of.year - 105, as_of.year + 1):
        if calendar.isleap(year) and datetime.date(year, 2, 29) <= as_of:
            pin(year, 2, 29)
    for shift in range(-12, 13):
        year, month = _month_shift(as_of.year, as_of.month, shift)
        for _ in range(2):
            pin(year - 65, month, rng.randint(1, calendar.monthrange(year - 65, month)[1]))
    return pinned


def _only_child_parents(
    persons: list[dict], households: list[_Household]
) -> dict[tuple[str, int], list[tuple[int, _Household]]]:
    """Return the heads and spouses of Changning households with exactly one 子 or 女.

    They are keyed by gender and birth year, with the household of each.
    """
    parents: dict[tuple[str, int], list[tuple[int, _Household]]] = {}
    for household in households:
        if household.hukou_region != DISTRICT_CODE:
            continue
        relations = [persons[i]["relation_to_head"] for i in household.members]
        if relations.count(SON) + relations.count(DAUGHTER) != 1:
            continue
        for index in household.members:
            person = persons[index]
            if person["relation_to_head"] in (HEAD, SPOUSE):
                key = (person["gender"], person["birth_date"].year)
                parents.setdefault(key, []).append((index, household))
    return parents


def _pin_only_child_parents(
    rng: random.Random, persons: list[dict], households: list[_Household], as_of: datetime.date,
    pinned: set[int],
) -> None:
    """Make two parents of an only child reach ``ONLY_CHILD_REWARD_AGES`` in each month.

    The months run from twelve before ``as_of`` to twelve after, where a parent was born in
    the year needed. The kinship theme links household children only to the household head,
    so a spouse who is pinned becomes the head and the head becomes the spouse. Only the
    month and day of birth change, and persons in ``pinned`` are left alone.
    """
    parents = _only_child_parents(persons, households)
    used: set[str] = set()
    for shift in range(-12, 13):
        year, month = _month_shift(as_of.year, as_of.month, shift)
        for gender, age in ONLY_CHILD_REWARD_AGES.items():
            candidates = [
                (index, household) for index, household in parents.get((gender, year - age), [])
                if household.household_id not in used
                and index not in pinned and household.members[0] not in pinned
            ]
            for index, household in rng.sample(candidates, min(2, len(candidates))):
                used.add(household.household_id)
                head = household.members[0]
                if index != head:
                    persons[index], persons[head] = persons[head], persons[index]
                    persons[head]["relation_to_head"] = HEAD
                    persons[index]["relation_to_head"] = SPOUSE
                pinned.add(head)
                last_day = calendar.monthrange(year - age, month)[1]
                persons[head]["birth_date"] = datetime.date(year - age, month,
                                                            rng.randint(1, last_day))


def _name_household(rng: random.Random, persons: list[dict], household: _Household) -> None:
    """Give each member a name. Children take their father's surname, if he is in the household.

    Members are listed head first and spouse second, so a father is named before his children.
    """
    members = [persons[i] for i in household.members]
    family = _surname(rng)
    father_surname = family
    paternal_line = members[0]["gender"] == MALE or any(
        m["relation_to_head"] == SON for m in members)
    for member in members:
        relation = member["relation_to_head"]
        if relation in (HEAD, FATHER):
            surname = family
        elif relation in (SON, DAUGHTER):
            surname = father_surname
        elif relation in (GRANDSON, GRANDDAUGHTER) and paternal_line:
            surname = family
        else:
            surname = _surname(rng)
        if relation in (HEAD, SPOUSE) and member["gender"] == MALE:
            father_surname = surname
        member["name"] = surname + _given_name(rng, member["gender"])


def _make_persons(
    rng: random.Random, issuer: _IdIssuer, count: int, as_of: datetime.date,
    addresses: list[dict],
) -> tuple[list[dict], list[_Household]]:
    persons, households = _make_households(rng, count, as_of, addresses)
    pinned = _pin_special_birth_dates(rng, persons, as_of)
    _pin_only_child_parents(rng, persons, households, as_of, pinned)
    for household in households:
        _name_household(rng, persons, household)
    for person in persons:
        year = person["birth_date"].year
        area = _birthplace(rng, person["hukou_region"], year)
        person["id_no"] = issuer.issue(area, person["birth_date"], person["gender"])
    return persons, households


# --- Marriages and divorces ---------------------------------------------------------------------


def _couples(
    persons: list[dict], households: list[_Household]
) -> list[tuple[int, int, datetime.date | None]]:
    """Return husband, wife and their first child's birth date for each couple in a household."""
    couples = []
    for household in households:
        by_relation: dict[str, list[int]] = {}
        for index in household.members:
            by_relation.setdefault(persons[index]["relation_to_head"], []).append(index)
        if SPOUSE in by_relation:
            head, spouse = by_relation[HEAD][0], by_relation[SPOUSE][0]
            husband, wife = (head, spouse) if persons[head]["gender"] == MALE else (spouse, head)
            children = by_relation.get(SON, []) + by_relation.get(DAUGHTER, [])
            first_child = min((persons[i]["birth_date"] for i in children), default=None)
            couples.append((husband, wife, first_child))
        if FATHER in by_relation and MOTHER in by_relation:
            head_birth = persons[by_relation[HEAD][0]]["birth_date"]
            couples.append((by_relation[FATHER][0], by_relation[MOTHER][0], head_birth))
    return couples


def _earliest_wedding(husband: dict, wife: dict) -> datetime.date:
    return max(_years_after(husband["birth_date"], MIN_MARRIAGE_AGE[MALE]),
               _years_after(wife["birth_date"], MIN_MARRIAGE_AGE[FEMALE]))


def _wedding_day(
    rng: random.Random, husband: dict, wife: dict, first_child: datetime.date | None,
    as_of: datetime.date,
) -> datetime.date | None:
    """Return a wedding day after both reached the legal age, usually before the first child."""
    earliest = _earliest_wedding(husband, wife)
    if earliest > as_of:
        return None
    latest = min(as_of, first_child) if first_child else as_of
    wedding = earliest + datetime.timedelta(days=int(rng.triangular(0, 15, 4) * 365))
    return max(earliest, min(wedding, latest))


def _divorced_pairs(
    rng: random.Random, persons: list[dict], households: list[_Household], as_of: datetime.date,
    count: int,
) -> list[tuple[int, int]]:
    """Pair single men and women aged 28 to 64 as former couples, who now live apart."""
    singles: dict[str, list[int]] = {MALE: [], FEMALE: []}
    for household in households:
        if len(household.members) == 1:
            index = household.members[0]
            if 28 <= age_on(persons[index]["birth_date"], as_of) <= 64:
                singles[persons[index]["gender"]].append(index)
    rng.shuffle(singles[MALE])
    rng.shuffle(singles[FEMALE])
    return list(zip(singles[MALE], singles[FEMALE], strict=False))[:count]


def _registration_numbers(rng: random.Random, records: list[dict]) -> None:
    """Number the registrations in date order, one series per kind and year.

    Numbers have the form J310105-2019-004321 for a marriage and L310105-2021-000123 for a
    divorce. Random gaps stand for voided certificates.
    """
    records.sort(key=lambda r: (r["registered_on"], r["kind"], r["party_a_id"]))
    serials: dict[tuple[str, int], int] = {}
    for record in records:
        series = (record["kind"], record["registered_on"].year)
        serials[series] = serials.get(series, 0) + rng.randint(1, 3)
        letter = "J" if record["kind"] == "marriage" else "L"
        record["registration_no"] = (
            f"{letter}{DISTRICT_CODE}-{series[1]}-{serials[series]:06d}")


def _registration(kind: str, day: datetime.date, husband: dict, wife: dict) -> dict:
    return {"registration_no": None, "kind": kind, "registered_on": day,
            "party_a_id": husband["id_no"], "party_b_id": wife["id_no"]}


def _make_marriages(
    rng: random.Random, persons: list[dict], households: list[_Household], as_of: datetime.date,
    last_event: dict[int, datetime.date],
) -> list[dict]:
    """Build the registrations of the last ``MARRIAGE_WINDOW_YEARS`` years.

    Couples living together get a marriage. Former couples get a marriage and a later divorce.
    ``last_event`` receives each party's latest registration day.
    """
    window_start = _years_before(as_of, MARRIAGE_WINDOW_YEARS)
    records = []
    for husband, wife, first_child in _couples(persons, households):
        day = _wedding_day(rng, persons[husband], persons[wife], first_child, as_of)
        if day is not None and day >= window_start:
            records.append(_registration("marriage", day, persons[husband], persons[wife]))
            last_event[husband] = last_event[wife] = day
    for husband, wife in _divorced_pairs(rng, persons, households, as_of, len(records) // 7):
        earliest = max(window_start, _earliest_wedding(persons[husband], persons[wife]))
        latest = as_of - datetime.timedelta(days=400)
        if earliest > latest:
            continue
        wedding = _random_day(rng, earliest, latest)
        divorce = _random_day(rng, wedding + datetime.timedelta(days=365),
                              min(as_of, wedding + datetime.timedelta(days=8 * 365)))
        records.append(_registration("marriage", wedding, persons[husband], persons[wife]))
        records.append(_registration("divorce", divorce, persons[husband], persons[wife]))
        last_event[husband] = last_event[wife] = divorce
    _registration_numbers(rng, records)
    return records


# --- Birth certificates -------------------------------------------------------------------------

_Parent = tuple[int | None, str]  # index in persons (None if registered elsewhere), ID number


def _external_parent(
    rng: random.Random, issuer: _IdIssuer, child_birth: datetime.date, gender: str
) -> _Parent:
    """Issue the ID of a parent who is not in the district's household register."""
    age_at_birth = rng.randint(24, 38)
    birth_date = _birth_date(rng, child_birth, age_at_birth)
    area = _birthplace(rng, DISTRICT_CODE, birth_date.year)
    return None, issuer.issue(area, birth_date, gender)


def _parents(
    rng: random.Random, issuer: _IdIssuer, persons: list[dict], household: _Household,
    child: dict,
) -> tuple[_Parent, _Parent]:
    """Return the mother and father of a child, from the household where possible."""
    if child["relation_to_head"] in (SON, DAUGHTER):
        parent_relations = (HEAD, SPOUSE)
    else:
        parent_relations = (SON, DAUGHTER)
    adult_on_birth = _years_before(child["birth_date"], 18)
    mother = father = None
    for index in household.members:
        member = persons[index]
        if member["relation_to_head"] not in parent_relations:
            continue
        if member["birth_date"] >= adult_on_birth:
            continue
        if member["gender"] == FEMALE and mother is None:
            mother = (index, member["id_no"])
        elif member["gender"] == MALE and father is None:
            father = (index, member["id_no"])
    mother = mother or _external_parent(rng, issuer, child["birth_date"], FEMALE)
    father = father or _external_parent(rng, issuer, child["birth_date"], MALE)
    return mother, father


def _certificate_letter(year: int) -> str:
    # One letter per edition of the certificate form, changing every two years in this sample.
    return "NOPQR"[min(4, max(0, (year - 2017) // 2))]


def _make_births(
    rng: random.Random, issuer: _IdIssuer, persons: list[dict], households: list[_Household],
    as_of: datetime.date, last_event: dict[int, datetime.date],
) -> list[dict]:
    """Build a birth certificate for every child younger than ``CHILD_CERTIFICATE_AGE``."""
    cutoff = _years_before(as_of, CHILD_CERTIFICATE_AGE)
    issued: set[str] = set()
    births = []
    for household in households:
        for index in household.members:
            child = persons[index]
            if child["birth_date"] <= cutoff or child["relation_to_head"] not in _CHILD_RELATIONS:
                continue
            mother, father = _parents(rng, issuer, persons, household, child)
            # A father is missing on a few certificates, more often when he is registered elsewhere.
            if rng.random() < (0.02 if father[0] is not None else 0.12):
                father = (None, None)
            number = _certificate_letter(child["birth_date"].year) + "31" + _digits(rng, 7)
            while number in issued:
                number = number[0] + "31" + _digits(rng, 7)
            issued.add(number)
            births.append({
                "certificate_no": number,
                "child_id_no": child["id_no"],
                "child_name": child["name"],
                "birth_date": child["birth_date"],
                "mother_id_no": mother[1],
                "father_id_no": father[1],
            })
            for parent_index in (mother[0], father[0]):
                if parent_index is not None:
                    previous = last_event.get(parent_index, child["birth_date"])
                    last_event[parent_index] = max(child["birth_date"], previous)
    births.sort(key=lambda b: (b["birth_date"], b["certificate_no"]))
    return births


# --- Deaths -------------------------------------------------------------------------------------


def _make_deaths(
    rng: random.Random, persons: list[dict], as_of: datetime.date,
    last_event: dict[int, datetime.date],
) -> list[dict]:
    """Choose who died in the last ``DEATH_WINDOW_DAYS`` days, the old far more often.

    Persons are drawn without replacement with weight exp(rate * age) (Efraimidis-Spirakis keys).
    A death falls after the person's birth and after their last registration or child's birth.
    """
    target = round(len(persons) * DEATHS_PER_PERSON_YEAR * DEATH_WINDOW_DAYS / 365)
    keys = []
    for index, person in enumerate(persons):
        weight = math.exp(_GOMPERTZ_RATE * age_on(person["birth_date"], as_of))
        keys.append((math.log(1.0 - rng.random()) / weight, index))
    keys.sort(reverse=True)
    first_day = as_of - datetime.timedelta(days=DEATH_WINDOW_DAYS)
    last_day = as_of - datetime.timedelta(days=1)
    deaths = []
    for _, index in keys:
        if len(deaths) >= target:
            break
        person = persons[index]
        after = max(person["birth_date"], last_event.get(index, person["birth_date"]))
        earliest = max(first_day, after + datetime.timedelta(days=1))
        if earliest <= last_day:
            deaths.append({"id_no": person["id_no"], "name": person["name"],
                           "date_of_death": _random_day(rng, earliest, last_day)})
    deaths.sort(key=lambda d: (d["date_of_death"], d["id_no"]))
    return deaths


# --- Social security cards ----------------------------------------------------------------------


def _card_number(rng: random.Random, bank: _Bank) -> str:
    body = bank.card_bin + _digits(rng, 12)
    return body + luhn.calc_check_digit(body)


def _make_cards(
    rng: random.Random, persons: list[dict], dead: set[str], as_of: datetime.date
) -> list[dict]:
    """Issue cards to about ``CARD_SHARE`` of adults. Some cards of the dead are cancelled."""
    statuses = tuple(status for status, _ in _CARD_STATUS_WEIGHTS)
    status_weights = list(accumulate(weight for _, weight in _CARD_STATUS_WEIGHTS))
    issued: set[str] = set()
    cards = []
    for person in persons:
        if age_on(person["birth_date"], as_of) < 18 or rng.random() >= CARD_SHARE:
            continue
        bank = rng.choices(_BANKS, cum_weights=_BANK_CUM_WEIGHTS)[0]
        account = _card_number(rng, bank)
        while account in issued:
            account = _card_number(rng, bank)
        issued.add(account)
        status = rng.choices(statuses, cum_weights=status_weights)[0]
        # Registers lag: the card of a dead person is often still normal.
        if person["id_no"] in dead and rng.random() < 0.6:
            status = "cancelled"
        cards.append({"id_no": person["id_no"], "bank_name": bank.name, "account_no": account,
                      "card_status": status})
    return cards


# --- Enterprises --------------------------------------------------------------------------------


def _organisation_code(rng: random.Random, established_on: datetime.date) -> str:
    """Return a 9-character organisation code (GB 11714-1997) with its mod-11 check character.

    Enterprises set up since 2016 get codes like MA1FW2K3X, older ones eight digits.
    """
    if established_on.year >= 2016:
        body = "MA1" + "".join(rng.choice(_USCC_ALPHABET[10:]) for _ in range(2)) + _digits(rng, 3)
    else:
        body = str(rng.randint(1, 9)) + _digits(rng, 7)
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w
                for c, w in zip(body, _ORG_CODE_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def _credit_code(rng: random.Random, established_on: datetime.date) -> str:
    """Return a USCC (GB 32100-2015): 9 (market regulator), 1 (enterprise), area, org code."""
    stem = "91" + DISTRICT_CODE + _organisation_code(rng, established_on)
    return stem + uscc.calc_check_digit(stem)


def _established_on(rng: random.Random, as_of: datetime.date) -> datetime.date:
    years = list(range(1992, as_of.year + 1))
    year = rng.choices(years, [(y - 1990) ** 1.5 for y in years])[0]
    return _random_day(rng, datetime.date(year, 1, 1), min(as_of, datetime.date(year, 12, 31)))


def _enterprise_name(rng: random.Random, size: str, used_names: set[str]) -> str:
    suffix = "股份有限公司" if size == "large" and rng.random() < 0.5 else "有限公司"
    for length in (2, 2, 2, 3, 3, 3, 4, 4, 4, 4):
        trade_name = "".join(rng.choice(_TRADE_NAME_CHARS) for _ in range(length))
        name = f"上海{trade_name}{rng.choice(_INDUSTRIES)}{suffix}"
        if name not in used_names:
            used_names.add(name)
            return name
    raise RuntimeError("could not find an unused enterprise name")


def _make_enterprises(rng: random.Random, count: int, as_of: datetime.date) -> list[dict]:
    codes, cum_weights = _street_choices()
    issued: set[str] = set()
    names: set[str] = set()
    enterprises = []
    for _ in range(count):
        established_on = _established_on(rng, as_of)
        credit_code = _credit_code(rng, established_on)
        while credit_code in issued:
            credit_code = _credit_code(rng, established_on)
        issued.add(credit_code)
        size = _pick(rng, _SIZE_WEIGHTS)
        bank = rng.choices(_BANKS, cum_weights=_BANK_CUM_WEIGHTS)[0]
        enterprises.append({
            "uscc": credit_code,
            "name": _enterprise_name(rng, size, names),
            "size": size,
            "established_on": established_on,
            "street_code": rng.choices(codes, cum_weights=cum_weights)[0],
            "status": _pick(rng, _STATUS_WEIGHTS),
            "bank_name": bank.name,
            "account_no": str(rng.randint(1, 9)) + _digits(rng, bank.basic_account_digits - 1),
        })
    return enterprises


# --- The world ----------------------------------------------------------------------------------


def generate_world(
    persons: int = 20000, seed: int = 7, as_of: datetime.date | None = None
) -> SampleWorld:
    """Generate a synthetic district population and the records departments keep about it.

    Args:
        persons: number of persons in the household register, at least 1.
        seed: seed of every random choice. The same arguments give the same world.
        as_of: the day the snapshot is taken. Defaults to today in Asia/Shanghai.

    Returns:
        The world with canonical values. Dead persons stay in ``persons`` because registers
        lag behind death registration. Martyrs are among the dead.

    Raises:
        ValueError: if ``persons`` is less than 1.
    """
    # Imported here because sample_programmes imports this module's helpers.
    from mianshen_pipeline import sample_programmes as programmes

    if persons < 1:
        raise ValueError(f"persons must be at least 1, got {persons}")
    as_of = as_of or today_in_shanghai()

    def rng(part: str) -> random.Random:
        return random.Random(f"{seed}:{part}")

    addresses = _make_addresses(rng("addresses"), max(100, persons * 3 // 10))
    issuer = _IdIssuer(rng("ids"))
    people, households = _make_persons(rng("persons"), issuer, persons, as_of, addresses)
    last_event: dict[int, datetime.date] = {}
    marriages = _make_marriages(rng("marriages"), people, households, as_of, last_event)
    births = _make_births(rng("births"), issuer, people, households, as_of, last_event)
    deaths = _make_deaths(rng("deaths"), people, as_of, last_event)
    members_of = [household.members for household in households]
    martyrs, martyr_deaths = programmes.make_martyrs(
        rng("martyrs"), people, members_of, marriages, births, deaths, last_event, as_of)
    deaths = sorted(deaths + martyr_deaths, key=lambda d: (d["date_of_death"], d["id_no"]))
    dead = {death["id_no"] for death in deaths}
    enterprises = _make_enterprises(rng("enterprises"), max(1, persons // 20), as_of)
    headcounts = programmes.make_insured_headcounts(rng("headcounts"), enterprises, as_of)
    graduates = programmes.make_graduates(rng("graduates"), people, deaths, as_of)
    return SampleWorld(
        persons=people,
        deaths=deaths,
        marriages=marriages,
        births=births,
        cards=_make_cards(rng("cards"), people, dead, as_of),
        enterprises=enterprises,
        addresses=addresses,
        as_of=as_of,
        disability_certificates=programmes.make_disability_certificates(
            rng("disability"), people, deaths, as_of),
        unemployment_insurance=programmes.make_unemployment_insurance(
            rng("unemployment"), headcounts, as_of),
        employment_records=programmes.make_employment_records(
            rng("employment"), people, deaths, graduates, headcounts, as_of),
        graduates=graduates,
        dishonest_entities=programmes.make_dishonest_entities(
            rng("dishonesty"), people, enterprises, as_of),
        martyrs=martyrs,
    )


# --- Writing files ------------------------------------------------------------------------------

CHECK_DIGIT = "check_digit"
EXCEL_SCIENTIFIC = "excel_scientific"
EXCEL_ZEROS = "excel_zeros"
MISSING_REQUIRED = "missing_required"
IMPOSSIBLE_DATE = "impossible_date"
DUPLICATE_ROW = "duplicate_row"
UNKNOWN_CODE = "unknown_code"
DEFECT_KINDS = (CHECK_DIGIT, EXCEL_SCIENTIFIC, EXCEL_ZEROS, MISSING_REQUIRED, IMPOSSIBLE_DATE,
                DUPLICATE_ROW, UNKNOWN_CODE)
# Defect kinds that make a resident ID or credit code cell fail validation.
ID_DEFECT_KINDS = (CHECK_DIGIT, EXCEL_SCIENTIFIC, EXCEL_ZEROS, MISSING_REQUIRED)
UNKNOWN_CODE_VALUE = "未知"

# Written when write_dataset gets no ``created`` time, so that xlsx files stay reproducible.
_DEFAULT_CREATED = datetime.datetime(2000, 1, 1)
_EXTENSIONS = {"csv": "csv", "xlsx": "xlsx", "parquet": "parquet", "jsonl": "jsonl"}


def _contract(dataset_key: str) -> DatasetContract:
    contracts = load_contracts()
    if dataset_key not in contracts:
        raise ValueError(
            f"unknown dataset {dataset_key!r}; expected one of: {', '.join(contracts)}")
    return contracts[dataset_key]


def _columns_of(rows: list[dict], contract: DatasetContract) -> list[str]:
    """Return contract columns present in any row, in contract order, then extra keys."""
    if not rows:
        return [column.name for column in contract.columns]
    present: dict[str, None] = {}
    for row in rows:
        present.update(dict.fromkeys(row))
    known = [column.name for column in contract.columns]
    return [name for name in known if name in present] + [k for k in present if k not in known]


def _header(name: str, contract: DatasetContract, headers: str) -> str:
    names = {column.name: column for column in contract.columns}
    if headers == "chinese" and name in names and names[name].aliases:
        return names[name].aliases[0]
    return name


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def _replace_marker(path: Path) -> Path:
    marker = path.with_name(path.name + ".ok")
    marker.unlink(missing_ok=True)
    return marker


def _write_csv(path: Path, columns: list[str], header: list[str], rows: Iterable[dict],
               encoding: str) -> None:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if (text := _text(row.get(c))) is None else text for c in columns])


def _write_jsonl(path: Path, columns: list[str], header: list[str], rows: Iterable[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            record = {key: _text(row.get(c)) for key, c in zip(header, columns, strict=True)}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _parquet_array(values: list, is_date_column: bool) -> pa.Array:
    """Return a date32 array for a date column that holds only dates, else a string array."""
    if is_date_column and all(v is None or isinstance(v, datetime.date) for v in values):
        dates = [v.date() if isinstance(v, datetime.datetime) else v for v in values]
        return pa.array(dates, type=pa.date32())
    return pa.array([_text(v) for v in values], type=pa.string())


def _write_parquet(path: Path, columns: list[str], header: list[str], rows: Iterable[dict],
                   contract: DatasetContract) -> None:
    rows = list(rows)
    date_columns = {c.name for c in contract.columns if c.type == ColumnType.DATE}
    arrays = [_parquet_array([row.get(c) for row in rows], c in date_columns) for c in columns]
    pq.write_table(pa.Table.from_arrays(arrays, names=header), path)


def _xlsx_cell(value: object) -> object:
    if isinstance(value, datetime.date):
        return value
    return _text(value)


def _write_xlsx(path: Path, columns: list[str], header: list[str], rows: Iterable[dict],
                contract: DatasetContract, created: datetime.datetime) -> None:
    """Write one sheet with real date cells, with fixed timestamps so reruns give equal bytes.

    openpyxl's ``save_workbook`` stamps the current time into docProps/core.xml and zipfile
    stamps every member, so this writes through ``ExcelWriter`` and then rewrites the archive.
    """
    workbook = Workbook(write_only=True)
    workbook.properties.created = created
    workbook.properties.modified = created
    sheet = workbook.create_sheet(title=contract.title.split()[0][:31])
    sheet.append(header)
    for row in rows:
        sheet.append([_xlsx_cell(row.get(c)) for c in columns])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(workbook, archive).save()
    stamp = created.timetuple()[:6]
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for member in source.infolist():
            fixed = zipfile.ZipInfo(member.filename, date_time=stamp)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            out.writestr(fixed, source.read(member.filename))


def _write_file(
    path: Path, fmt: str, columns: list[str], rows: Iterable[dict], contract: DatasetContract,
    *, headers: str, encoding: str, created: datetime.datetime, marker: bool,
) -> Path:
    """Write rows, then the empty ``<file>.ok`` marker once the file is complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    marker_path = _replace_marker(path)
    header = [_header(name, contract, headers) for name in columns]
    if fmt == "csv":
        _write_csv(path, columns, header, rows, encoding)
    elif fmt == "jsonl":
        _write_jsonl(path, columns, header, rows)
    elif fmt == "parquet":
        _write_parquet(path, columns, header, rows, contract)
    else:
        _write_xlsx(path, columns, header, rows, contract, created)
    if marker:
        marker_path.write_bytes(b"")
    return path


def write_dataset(
    rows: list[dict],
    path: Path,
    dataset_key: str,
    fmt: str,
    *,
    headers: str = "english",
    encoding: str = "utf-8",
    marker: bool = True,
    created: datetime.datetime | None = None,
) -> Path:
    """Write rows as one department file in an accepted format.

    Columns are the contract columns that occur in any row, in contract order, followed by
    extra keys in the order first seen. Every value is written as given, as text, except that
    dates become date cells in xlsx and a date column holding only dates becomes date32 in
    parquet. So rows may carry raw strings or defects. ``None`` is an empty cell (null in
    jsonl and parquet).

    Args:
        rows: records keyed by contract column names.
        path: file to write. Parent folders are created.
        dataset_key: ``department/dataset`` of the contract.
        fmt: one of csv, xlsx, parquet, jsonl.
        headers: ``english`` for column names, ``chinese`` for each column's first alias.
        encoding: for csv only: utf-8, utf-8-sig (with BOM) or gb18030. jsonl is always UTF-8.
        marker: write the empty ``<file>.ok`` marker after the file is complete.
        created: creation time stored in xlsx metadata. Defaults to 2000-01-01 00:00.

    Returns:
        ``path``.

    Raises:
        ValueError: on an unknown dataset, format, header style or encoding.
    """
    contract = _contract(dataset_key)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of: {', '.join(FORMATS)}")
    if headers not in HEADER_STYLES:
        raise ValueError(f"unknown headers {headers!r}; expected english or chinese")
    if encoding not in CSV_ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}; expected one of: "
                         f"{', '.join(CSV_ENCODINGS)}")
    return _write_file(Path(path), fmt, _columns_of(rows, contract), rows, contract,
                       headers=headers, encoding=encoding, created=created or _DEFAULT_CREATED,
                       marker=marker)


# --- Department forms, surface variation and defects --------------------------------------------

_FORMATS_WITH_HEADER_ROW = ("csv", "xlsx")
_FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
_DATE_STYLES = (("iso", 55), ("compact", 20), ("slash", 15), ("chinese", 10))
_ALL_KINDS = DEFECT_KINDS
_TEXT_FILE_KINDS = (CHECK_DIGIT, EXCEL_SCIENTIFIC, EXCEL_ZEROS, MISSING_REQUIRED,
                    IMPOSSIBLE_DATE, DUPLICATE_ROW)
# Typed exports (parquet, a system's JSON lines) get only the source system's defects in this
# sample, because a typed date column cannot hold an impossible date and the files skip Excel.
_SYSTEM_EXPORT_KINDS = (CHECK_DIGIT, MISSING_REQUIRED, DUPLICATE_ROW, UNKNOWN_CODE)


@dataclass(frozen=True)
class _DropForm:
    """Department's way of writing one dataset: format, wording, variation and defect kinds."""

    key: str
    world_field: str
    fmt: str
    headers: str
    encoding: str = "utf-8"
    # iso, compact, slash, chinese, mixed (a different style per cell), or native (date cells).
    date_style: str = "iso"
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    # Labels written in about a fifth of the rows, the canonical code in the others.
    mixed_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    id_variant_share: float = 0.0
    defect_kinds: tuple[str, ...] = ()


_FORMS = (
    _DropForm("psb/household_register", "persons", "csv", "chinese", "gb18030", "mixed",
              mixed_labels={"gender": {"1": "男", "2": "女"}}, id_variant_share=0.04,
              defect_kinds=_ALL_KINDS),
    _DropForm("civil_affairs/death_records", "deaths", "csv", "english", "utf-8", "iso",
              id_variant_share=0.01, defect_kinds=_TEXT_FILE_KINDS),
    _DropForm("civil_affairs/marriage_registrations", "marriages", "xlsx", "chinese",
              date_style="native", labels={"kind": {"marriage": "结婚", "divorce": "离婚"}},
              defect_kinds=_ALL_KINDS),
    _DropForm("health/birth_certificates", "births", "csv", "chinese", "utf-8-sig", "slash",
              id_variant_share=0.01, defect_kinds=_TEXT_FILE_KINDS),
    _DropForm("hrss/social_security_cards", "cards", "jsonl", "english",
              labels={"card_status": {"normal": "正常", "lost": "挂失", "cancelled": "注销",
                                      "inactive": "未激活", "frozen": "冻结"}},
              defect_kinds=_SYSTEM_EXPORT_KINDS),
    _DropForm("market/enterprise_register", "enterprises", "parquet", "english",
              date_style="native",
              labels={"size": {"large": "大", "medium": "中", "small": "小", "micro": "微"},
                      "status": {"active": "存续", "revoked": "吊销", "deregistered": "注销",
                                 "moved_out": "迁出"}},
              defect_kinds=_SYSTEM_EXPORT_KINDS),
    _DropForm("planning/standard_addresses", "addresses", "csv", "chinese", "utf-8",
              defect_kinds=(MISSING_REQUIRED, DUPLICATE_ROW)),
    _DropForm("dpf/disability_certificates", "disability_certificates", "xlsx", "chinese",
              date_style="native",
              labels={"category": {"vision": "视力", "hearing": "听力", "speech": "言语",
                                   "physical": "肢体", "intellectual": "智力", "mental": "精神",
                                   "multiple": "多重"}},
              mixed_labels={"grade": {"1": "一级", "2": "二级", "3": "三级", "4": "四级"}},
              id_variant_share=0.01, defect_kinds=_ALL_KINDS),
    # A contribution file has no resident ID or date, so only these defects fit it.
    _DropForm("hrss/unemployment_insurance", "unemployment_insurance", "csv", "chinese",
              "gb18030", defect_kinds=(CHECK_DIGIT, MISSING_REQUIRED, DUPLICATE_ROW)),
    _DropForm("hrss/employment_records", "employment_records", "parquet", "english",
              defect_kinds=_SYSTEM_EXPORT_KINDS),
    _DropForm("education/graduates", "graduates", "csv", "chinese", "utf-8", "compact",
              labels={"level": {"college": "专科", "bachelor": "本科", "master": "硕士",
                                "doctor": "博士"}},
              id_variant_share=0.01, defect_kinds=_ALL_KINDS),
    _DropForm("credit/dishonest_entities", "dishonest_entities", "jsonl", "english",
              labels={"subject_type": {"legal_entity": "法人", "person": "自然人"}},
              defect_kinds=_SYSTEM_EXPORT_KINDS),
    _DropForm("veterans/martyrs", "martyrs", "xlsx", "chinese", date_style="native",
              defect_kinds=_TEXT_FILE_KINDS),
)


def _format_ymd(year: int, month: int, day: int, style: str) -> str:
    if style == "compact":
        return f"{year:04d}{month:02d}{day:02d}"
    if style == "slash":
        return f"{year}/{month}/{day}"
    if style == "chinese":
        return f"{year}年{month}月{day}日"
    return f"{year:04d}-{month:02d}-{day:02d}"


def _id_variant(rng: random.Random, number: str) -> str:
    """Return a valid variant of an ID: full-width, spaced, or the 15-digit first generation."""
    variants = ["full_width", "spaced"]
    if number[6:8] == "19" and int(number[6:10]) < 1980:
        variants.append("fifteen")
    variant = rng.choice(variants)
    if variant == "full_width":
        return number.translate(_FULL_WIDTH)
    if variant == "spaced":
        return f"{number[:6]} {number[6:14]} {number[14:]}"
    return number[:6] + number[8:17]


def _wrong_check(rng: random.Random, value: str, alphabet: str) -> str:
    return value[:-1] + rng.choice([c for c in alphabet if c != value[-1]])


class _Renderer:
    """Renderer of canonical rows in a department's form, which also injects defects."""

    def __init__(self, form: _DropForm, contract: DatasetContract, rng: random.Random) -> None:
        self.form = form
        self.rng = rng
        self.types = {column.name: column.type for column in contract.columns}
        self.required = [column.name for column in contract.columns if column.required]

    def _date_style(self) -> str:
        if self.form.date_style == "mixed":
            return _pick(self.rng, _DATE_STYLES)
        return self.form.date_style

    def _value(self, name: str, value: object) -> object:
        if value is None:
            return None
        kind = self.types.get(name)
        if kind == ColumnType.DATE and isinstance(value, datetime.date):
            style = self._date_style()
            if style == "native":
                return value
            return _format_ymd(value.year, value.month, value.day, style)
        if kind == ColumnType.RESIDENT_ID and self.form.id_variant_share:
            if value.endswith("X") and self.rng.random() < 0.3:
                return value[:-1] + "x"
            if self.rng.random() < self.form.id_variant_share:
                return _id_variant(self.rng, value)
        if name in self.form.labels:
            return self.form.labels[name].get(value, value)
        if name in self.form.mixed_labels and self.rng.random() < 0.2:
            return self.form.mixed_labels[name].get(value, value)
        return value

    def render(self, row: dict) -> dict:
        return {name: self._value(name, value) for name, value in row.items()}

    def damage(self, planned: str, row: dict, rendered: dict) -> tuple[str, str] | None:
        """Apply the planned defect, or another one if it does not fit the row.

        Returns:
            The defect kind and column applied, or None if no defect fits the row.
        """
        kinds = [planned] + [k for k in self.form.defect_kinds if k not in (planned, DUPLICATE_ROW)]
        for kind in kinds:
            column = self._apply(kind, row, rendered)
            if column is not None:
                return kind, column
        return None

    def _columns(self, row: dict, *types: ColumnType) -> list[str]:
        return [name for name, value in row.items()
                if self.types.get(name) in types and value is not None]

    def _apply(self, kind: str, row: dict, rendered: dict) -> str | None:
        if kind == CHECK_DIGIT:
            candidates = self._columns(row, ColumnType.RESIDENT_ID, ColumnType.CREDIT_CODE)
        elif kind in (EXCEL_SCIENTIFIC, EXCEL_ZEROS):
            candidates = [name for name in self._columns(row, ColumnType.RESIDENT_ID)
                          if row[name].isdigit()]
        elif kind == MISSING_REQUIRED:
            candidates = [name for name in self.required if row.get(name) is not None]
        elif kind == IMPOSSIBLE_DATE:
            candidates = self._columns(row, ColumnType.DATE)
        elif kind == UNKNOWN_CODE:
            candidates = self._columns(row, ColumnType.CODE)
        else:
            candidates = []
        if not candidates:
            return None
        column = self.rng.choice(candidates)
        if kind == MISSING_REQUIRED:
            rendered[column] = None
            return column
        value = self._damaged(kind, column, row[column])
        if value is None:
            return None
        rendered[column] = value
        return column

    def _damaged(self, kind: str, column: str, value: object) -> str | None:
        """Return the damaged text of a cell, or None if this kind cannot damage the value."""
        if kind == CHECK_DIGIT:
            is_credit_code = self.types[column] == ColumnType.CREDIT_CODE
            alphabet = _USCC_ALPHABET if is_credit_code else "0123456789X"
            return _wrong_check(self.rng, value, alphabet)
        if kind == EXCEL_SCIENTIFIC:
            # Excel's General format shows an 18-digit number as 3.10105E+17.
            mantissa, exponent = f"{int(value):.5E}".split("E")
            return f"{mantissa.rstrip('0').rstrip('.')}E{exponent}"
        if kind == EXCEL_ZEROS:
            # Excel keeps 15 significant digits, so the last three become 000.
            zeroed = value[:15] + "000"
            return None if ric.is_valid(zeroed) else zeroed
        if kind == IMPOSSIBLE_DATE:
            style = "iso" if self.form.date_style == "native" else self._date_style()
            return _format_ymd(value.year, 2, 30, style)
        if kind == UNKNOWN_CODE:
            return UNKNOWN_CODE_VALUE
        return None


def _plan_defects(rng: random.Random, count: int, kinds: tuple[str, ...],
                  share: float) -> dict[int, str]:
    """Choose the rows to damage and the defect kind of each, cycling through ``kinds``.

    The cycle starts at a random kind, so that small files do not all get the same kinds.

    At least one row is damaged when ``share`` is positive and there are rows.
    """
    if share <= 0 or count == 0 or not kinds:
        return {}
    total = min(count, max(1, round(share * count)))
    start = rng.randrange(len(kinds))
    planned = [kinds[(start + i) % len(kinds)] for i in range(total)]
    rng.shuffle(planned)
    return dict(zip(rng.sample(range(count), total), planned, strict=True))


def _render_drop(
    rows: list[dict], form: _DropForm, contract: DatasetContract, rng: random.Random,
    share: float, defects: list[dict],
) -> Iterator[dict]:
    """Yield the rows of one file and append each injected defect to ``defects``.

    A defect's ``row`` is the record's position as a department finds it. In csv and xlsx it
    is the line or sheet row, with the header as row 1. Jsonl and parquet have no header row,
    so there it is the record number from 1. A duplicated row follows its original, and the
    copy is the one tagged.
    """
    renderer = _Renderer(form, contract, rng)
    plan = _plan_defects(rng, len(rows), form.defect_kinds, share)
    line = 1 if form.fmt in _FORMATS_WITH_HEADER_ROW else 0
    for index, row in enumerate(rows):
        rendered = renderer.render(row)
        planned = plan.get(index)
        applied = None
        if planned is not None and planned != DUPLICATE_ROW:
            applied = renderer.damage(planned, row, rendered)
        line += 1
        if applied is not None:
            defects.append({"dataset": form.key, "row": line, "column": applied[1],
                            "kind": applied[0]})
        yield rendered
        if planned == DUPLICATE_ROW:
            line += 1
            defects.append({"dataset": form.key, "row": line, "column": None,
                            "kind": DUPLICATE_ROW, "duplicate_of": line - 1})
            yield dict(rendered)


def _drop_columns(rows: list[dict], contract: DatasetContract) -> list[str]:
    if rows:
        return [column.name for column in contract.columns if column.name in rows[0]]
    # World records have every contract column except the delta datasets' record_action.
    return [column.name for column in contract.columns if column.name != contract.delete_column]


def write_drops(
    world: SampleWorld,
    landing_dir: Path,
    *,
    defect_share: float = 0.01,
    seed: int = 7,
    stamp: str | None = None,
) -> dict[str, Path]:
    """Write one file per dataset as its department delivers it, with tagged defects.

    Each file goes to ``landing_dir/<department>/<dataset>/<dataset>_<stamp>.<ext>`` with an
    empty ``<file>.ok`` marker written after it. The injected defects are listed in
    ``landing_dir/../sample_defects.json``, one object per defect with ``dataset``, ``row``,
    ``column`` (None for a duplicated row), ``kind`` and, for a duplicated row,
    ``duplicate_of``. ``row`` counts the header as row 1 in csv and xlsx files, and records
    from 1 in jsonl and parquet files.

    Args:
        world: the truth to render. It is not modified.
        landing_dir: root folder of the department drops.
        defect_share: share of rows per dataset that get a defect, from 0 to 1.
        seed: seed of surface variation and defects.
        stamp: file name suffix. Defaults to ``world.as_of`` as YYYYMMDD.

    Returns:
        The path of each file, keyed by ``department/dataset``.

    Raises:
        ValueError: if ``defect_share`` is outside 0 to 1.
    """
    if not 0 <= defect_share <= 1:
        raise ValueError(f"defect_share must be between 0 and 1, got {defect_share}")
    as_of = world.as_of or today_in_shanghai()
    stamp = stamp or f"{as_of:%Y%m%d}"
    created = datetime.datetime.combine(as_of, datetime.time())
    landing_dir = Path(landing_dir)
    defects: list[dict] = []
    paths = {}
    for form in _FORMS:
        contract = _contract(form.key)
        rows = getattr(world, form.world_field)
        path = (landing_dir / contract.department / contract.dataset
                / f"{contract.dataset}_{stamp}.{_EXTENSIONS[form.fmt]}")
        columns = _drop_columns(rows, contract)
        rng = random.Random(f"{seed}:{form.key}")
        rendered = _render_drop(rows, form, contract, rng, defect_share, defects)
        paths[form.key] = _write_file(path, form.fmt, columns, rendered, contract,
                                      headers=form.headers, encoding=form.encoding,
                                      created=created, marker=True)
    defects_path = landing_dir.parent / DEFECTS_FILE
    defects_path.parent.mkdir(parents=True, exist_ok=True)
    defects_path.write_text(json.dumps(defects, ensure_ascii=False, indent=1) + "\n",
                            encoding="utf-8")
    return paths
