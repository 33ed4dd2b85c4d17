"""Custom Great Expectations expectations for Chinese identifiers, checked with python-stdnum.

Importing this module registers ``expect_column_values_to_be_valid_resident_id`` and
``expect_column_values_to_be_valid_credit_code`` with GX, so suites stored as JSON can name
them like any built-in expectation.
"""

from __future__ import annotations

from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import (
    ColumnMapMetricProvider,
    column_condition_partial,
)

from mianshen_pipeline.identifiers import check_credit_code, check_resident_id


class ColumnValuesValidResidentId(ColumnMapMetricProvider):
    """Whether each value normalises to a valid resident ID number (GB 11643-1999)."""

    condition_metric_name = "column_values.valid_resident_id"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return column.map(lambda value: check_resident_id(value).ok)


class ColumnValuesValidCreditCode(ColumnMapMetricProvider):
    """Whether each value normalises to a valid unified social credit code (GB 32100-2015)."""

    condition_metric_name = "column_values.valid_credit_code"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return column.map(lambda value: check_credit_code(value).ok)


class ExpectColumnValuesToBeValidResidentId(ColumnMapExpectation):
    """Expect column values to be valid resident ID numbers after normalisation."""

    map_metric = "column_values.valid_resident_id"
    success_keys = ("mostly",)


class ExpectColumnValuesToBeValidCreditCode(ColumnMapExpectation):
    """Expect column values to be valid unified social credit codes after normalisation."""

    map_metric = "column_values.valid_credit_code"
    success_keys = ("mostly",)
