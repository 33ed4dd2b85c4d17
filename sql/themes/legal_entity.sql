-- 法人 legal entity theme: one row per enterprise in the market regulation register, with the
-- district it is registered in (the first six digits of its street code).
CREATE OR REPLACE TABLE theme.legal_entity AS
SELECT
    uscc,
    name,
    size,
    established_on,
    street_code,
    left(street_code, 6) AS district_code,
    status,
    bank_name,
    account_no,
    _drop_id AS source_drop_id,
    _row AS source_row
FROM staging.market__enterprise_register
ORDER BY uscc;
