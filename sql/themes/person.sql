-- 自然人 person theme: one row per resident registered in the household register, with the
-- death record when civil affairs has one. Source row references let every policy decision
-- be traced back to the drop and row it came from.
CREATE OR REPLACE TABLE theme.person AS
SELECT
    r.id_no,
    r.name,
    r.gender,
    r.birth_date,
    r.hukou_region,
    r.street_code,
    r.household_id,
    r.relation_to_head,
    r.address,
    d.date_of_death,
    r._drop_id AS register_drop_id,
    r._row AS register_row,
    d._drop_id AS death_drop_id,
    d._row AS death_row
FROM staging.psb__household_register AS r
LEFT JOIN staging.civil_affairs__death_records AS d USING (id_no)
ORDER BY r.id_no;
