-- 婚姻 marriage theme: one row per marriage registration, with the date it ended, if it did,
-- by divorce of the same couple or by the death of either spouse.
CREATE OR REPLACE TABLE theme.marriage AS
WITH registrations AS (
    SELECT * FROM staging.civil_affairs__marriage_registrations
),
marriages AS (SELECT * FROM registrations WHERE kind = 'marriage'),
divorces AS (SELECT * FROM registrations WHERE kind = 'divorce'),
divorced AS (
    SELECT m.registration_no, min(d.registered_on) AS divorced_on
    FROM marriages AS m
    JOIN divorces AS d
        ON d.party_a_id = m.party_a_id AND d.party_b_id = m.party_b_id
       AND d.registered_on >= m.registered_on
    GROUP BY m.registration_no
),
deaths AS (SELECT id_no, date_of_death FROM staging.civil_affairs__death_records)
SELECT
    m.registration_no,
    m.party_a_id,
    m.party_b_id,
    m.registered_on AS married_on,
    v.divorced_on,
    least(v.divorced_on, da.date_of_death, db.date_of_death) AS ended_on,
    CASE
        WHEN least(v.divorced_on, da.date_of_death, db.date_of_death) IS NULL THEN NULL
        WHEN v.divorced_on = least(v.divorced_on, da.date_of_death, db.date_of_death)
            THEN 'divorce'
        ELSE 'death'
    END AS end_reason,
    m._drop_id AS source_drop_id,
    m._row AS source_row
FROM marriages AS m
LEFT JOIN divorced AS v USING (registration_no)
LEFT JOIN deaths AS da ON da.id_no = m.party_a_id
LEFT JOIN deaths AS db ON db.id_no = m.party_b_id
ORDER BY m.registration_no;
