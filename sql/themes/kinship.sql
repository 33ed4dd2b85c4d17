-- 亲属关系 kinship theme: parent-child links. A medical birth certificate names the mother and
-- usually the father; the household register adds the children (子/女) of each household head.
-- When both sources link the same pair, the birth certificate is kept.
CREATE OR REPLACE TABLE theme.kinship AS
WITH links AS (
    SELECT mother_id_no AS parent_id, child_id_no AS child_id, 'mother' AS parent_role,
           'birth_certificate' AS source, 1 AS priority, _drop_id AS source_drop_id,
           _row AS source_row
    FROM staging.health__birth_certificates
    WHERE child_id_no IS NOT NULL AND mother_id_no IS NOT NULL
    UNION ALL
    SELECT father_id_no, child_id_no, 'father', 'birth_certificate', 1, _drop_id, _row
    FROM staging.health__birth_certificates
    WHERE child_id_no IS NOT NULL AND father_id_no IS NOT NULL
    UNION ALL
    SELECT head.id_no, member.id_no,
           CASE head.gender WHEN '1' THEN 'father' WHEN '2' THEN 'mother' ELSE 'parent' END,
           'household_register', 2, member._drop_id, member._row
    FROM staging.psb__household_register AS member
    JOIN staging.psb__household_register AS head
        ON head.household_id = member.household_id AND head.relation_to_head = '户主'
    WHERE member.relation_to_head IN ('子', '女', '长子', '次子', '长女', '次女', '儿子', '女儿')
)
SELECT parent_id, child_id, parent_role, source, source_drop_id, source_row
FROM links
WHERE parent_id <> child_id
QUALIFY row_number() OVER (PARTITION BY parent_id, child_id ORDER BY priority, source_row) = 1
ORDER BY parent_id, child_id;
