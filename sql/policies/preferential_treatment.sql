-- 扫码优待 (preferential treatment recognised when a QR code is scanned), daily.
--
-- Rule for day D ($cycle_start), for every person in the household register:
--   * registered in the served district, with no death record before D;
--   * in at least one entitled group:
--       - aged $elderly_min_age (70) or over on D;
--       - has a disability certificate valid on D;
--       - family of a martyr recognised on or before D: a parent or child through the
--         kinship theme, or the spouse in a marriage that had begun and not ended when the
--         martyr died (a marriage ended by that death counts).
-- No amount: the entitled groups are what the QR-code service recognises.
WITH martyrs AS (
    SELECT martyr_id_no, died_on FROM staging.veterans__martyrs WHERE recognised_on <= $cycle_start
),
martyr_family AS (
    SELECT k.child_id AS id_no FROM theme.kinship AS k
    JOIN martyrs AS m ON m.martyr_id_no = k.parent_id
    UNION
    SELECT k.parent_id FROM theme.kinship AS k
    JOIN martyrs AS m ON m.martyr_id_no = k.child_id
    UNION
    SELECT CASE WHEN w.party_a_id = m.martyr_id_no THEN w.party_b_id ELSE w.party_a_id END
    FROM theme.marriage AS w
    JOIN martyrs AS m ON m.martyr_id_no IN (w.party_a_id, w.party_b_id)
    WHERE w.married_on <= m.died_on AND (w.ended_on IS NULL OR w.ended_on >= m.died_on)
),
certified AS (
    SELECT DISTINCT id_no FROM staging.dpf__disability_certificates
    WHERE valid_until >= $cycle_start
),
groups AS (
    SELECT
        p.*,
        age_on(p.birth_date, $cycle_start) >= $elderly_min_age AS group_elderly,
        p.id_no IN (SELECT id_no FROM certified) AS group_disability,
        p.id_no IN (SELECT id_no FROM martyr_family) AS group_martyr_family
    FROM theme.person AS p
)
SELECT
    id_no AS subject_id,
    name AS subject_name,
    hukou_region = $served_district AS cond_registered_in_district,
    date_of_death IS NULL OR date_of_death >= $cycle_start AS cond_alive,
    group_elderly OR group_disability OR group_martyr_family AS cond_in_entitled_group,
    group_elderly,
    group_disability,
    group_martyr_family,
    concat_ws(',',
        CASE WHEN group_elderly THEN 'elderly' END,
        CASE WHEN group_disability THEN 'disability' END,
        CASE WHEN group_martyr_family THEN 'martyr_family' END) AS group_codes,
    CAST(NULL AS DECIMAL(18, 2)) AS amount,
    register_drop_id || ':' || register_row AS source_household_register
FROM groups
