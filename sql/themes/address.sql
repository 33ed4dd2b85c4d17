-- 地址 address theme: the standard address register with its street and neighbourhood
-- committee, and the number of registered residents whose address is that standard address.
CREATE OR REPLACE TABLE theme.address AS
WITH residents AS (
    SELECT address, count(*) AS residents
    FROM staging.psb__household_register
    GROUP BY address
)
SELECT
    a.address_id,
    a.address,
    a.street_code,
    s.street_name,
    a.community,
    coalesce(r.residents, 0) AS registered_residents,
    a._drop_id AS source_drop_id,
    a._row AS source_row
FROM staging.planning__standard_addresses AS a
LEFT JOIN ref.streets AS s USING (street_code)
LEFT JOIN residents AS r USING (address)
ORDER BY a.address_id;
