-- Free text sealed at rest (issue 22): nothing a patient or a professional wrote stays readable
-- once the record is crypto-shredded.
--
-- An emergency justification's opening (a random nonce and the text), sealed under the
-- patient's key. The ledger entry carries only its commitment (SHA-256 over both), which is
-- this table's key; an emergency access row written from now on holds `commitment:<hex>`
-- in its `justification` column in place of the text (rows written before keep theirs: their
-- ledger entry, which cannot be rewritten, holds the same text in clear).
--
-- Close reasons (`records.close_reason`), the privacy officer's review notes
-- (`review_items.notes`, under a service key) and the author names of the outbox
-- (`outbox.payload`) are sealed in place by the service (`sealed:v1:` and base64).
CREATE TABLE justification_openings (
    commitment TEXT  PRIMARY KEY,
    ins        TEXT  NOT NULL,
    sealed     BLOB NOT NULL
);
