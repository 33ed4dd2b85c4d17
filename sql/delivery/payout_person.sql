-- Payout candidates for a person policy: every eligible subject of the cycle, paid to its payee (the subject itself unless the
-- rule names another), with the
-- financial account of their social security card when the card's status is normal. A subject
-- without such a card has a NULL account_no and gets no payout line.
SELECT
    $policy_id AS policy_id,
    c.cycle AS period,
    'person' AS payee_type,
    c.subject_id,
    c.payee_id,
    c.payee_name,
    card.bank_name,
    card.account_no,
    CAST(c.amount AS DECIMAL(18, 2)) AS amount,
    left(sha256($policy_id || '|' || c.cycle || '|' || c.subject_id), 32) AS idempotency_key
FROM {cohort} AS c
LEFT JOIN staging.hrss__social_security_cards AS card
    ON card.id_no = c.payee_id AND card.card_status = 'normal'
WHERE c.cycle = $cycle
