"""Normalisation and validation of resident ID numbers and credit codes."""

import pytest
from stdnum.cn import ric, uscc

from mianshen_pipeline.identifiers import check_credit_code, check_resident_id, convert_15_to_18
from mianshen_pipeline.security import mask_account, mask_id, mask_name, neutralise_formula


def make_id(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


VALID = make_id("31010519500301001")
WITH_X = next(
    make_id(f"3101051961031500{d}") for d in range(10)
    if make_id(f"3101051961031500{d}").endswith("X")
)


def test_valid_id_unchanged():
    assert check_resident_id(VALID).value == VALID


@pytest.mark.parametrize(
    "raw",
    [
        VALID.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        f" {VALID[:6]} {VALID[6:14]} {VALID[14:]} ",
        f"'{VALID}",
    ],
)
def test_id_normalised(raw):
    assert check_resident_id(raw).value == VALID


def test_lower_case_x_upper_cased():
    assert check_resident_id(WITH_X.lower()).value == WITH_X


def test_fifteen_digit_converted():
    old = VALID[:6] + VALID[8:17]
    assert len(old) == 15
    assert convert_15_to_18(old) == VALID
    assert check_resident_id(old).value == VALID


def test_wrong_check_digit_rejected():
    wrong = VALID[:-1] + ("1" if VALID[-1] != "1" else "2")
    result = check_resident_id(wrong)
    assert result.value is None
    assert "check digit is wrong" in result.error


def test_scientific_notation_explained():
    result = check_resident_id("3.10105E+17")
    assert result.value is None
    assert "scientific notation" in result.error


def test_trailing_zeros_explained():
    mangled = VALID[:15] + "000"
    result = check_resident_id(mangled)
    assert result.value is None
    assert "ends in 000" in result.error


def test_float_suffix_explained():
    result = check_resident_id(VALID + ".0")
    assert result.value is None
    assert "ends in '.0'" in result.error


def test_impossible_birth_date_rejected():
    result = check_resident_id(make_id("31010519500230001"))
    assert result.value is None
    assert "birth date" in result.error


def test_missing_id():
    assert check_resident_id("  ").error == "missing"


def test_credit_code_normalised():
    code = "91310105" + "MA1FL0AB" + "1"
    code = code[:17] + uscc.calc_check_digit(code[:17])
    assert check_credit_code(code.lower()).value == code
    assert check_credit_code(code[:-1] + ("0" if code[-1] != "0" else "1")).value is None


def test_masks():
    assert mask_id(VALID) == VALID[:6] + "********" + VALID[-4:]
    assert mask_name("张三") == "张*"
    assert mask_name("张小三") == "张*三"
    assert mask_name("欧阳小明") == "欧**明"
    assert mask_account("6222021001234567890") == "*" * 15 + "7890"
    assert mask_id("310105195") == "31*****95"
    assert mask_id("3101051950") == "31******50"


def test_formula_neutralised():
    assert neutralise_formula("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert neutralise_formula("张三") == "张三"
